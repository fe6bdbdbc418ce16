using static TorchSharp.torch;

namespace SonicDiffusion.Audio;

/// <summary>Decoded audio: one float array per channel (full scale = ±1), all of equal length, and the sample rate in Hz.</summary>
public sealed class AudioClip
{
    public float[][] Channels { get; }
    public int SampleRate { get; }

    public AudioClip(float[][] channels, int sampleRate)
    {
        ArgumentNullException.ThrowIfNull(channels);
        if (channels.Length == 0) throw new ArgumentException("an audio clip needs at least one channel", nameof(channels));
        if (sampleRate <= 0) throw new ArgumentOutOfRangeException(nameof(sampleRate), sampleRate, "sample rate must be positive");
        int n = channels[0].Length;
        if (channels.Any(c => c is null || c.Length != n)) throw new ArgumentException("all channels must have the same length", nameof(channels));
        Channels = channels;
        SampleRate = sampleRate;
    }

    public static AudioClip FromMono(float[] samples, int sampleRate) => new([samples], sampleRate);

    public int ChannelCount => Channels.Length;
    public int FrameCount => Channels[0].Length;
    public double DurationSeconds => (double)FrameCount / SampleRate;

    /// <summary>
    /// Channel mean, as torch's float32 <c>mean(dim=0)</c>: a float32 running sum over the channels, divided by the count.
    /// A mono clip returns a copy of its channel.
    /// </summary>
    public float[] ToMono()
    {
        int n = FrameCount, c = ChannelCount;
        var mono = (float[])Channels[0].Clone();
        if (c == 1) return mono;
        for (int ch = 1; ch < c; ch++)
        {
            var src = Channels[ch];
            for (int i = 0; i < n; i++) mono[i] += src[i];
        }
        float count = c;
        for (int i = 0; i < n; i++) mono[i] /= count;
        return mono;
    }

    public AudioClip Mono() => FromMono(ToMono(), SampleRate);

    /// <summary>The samples as a float32 CPU tensor [channels, frames].</summary>
    public Tensor ToTensor()
    {
        var flat = new float[(long)ChannelCount * FrameCount];
        for (int ch = 0; ch < ChannelCount; ch++) Channels[ch].CopyTo(flat, (long)ch * FrameCount);
        return tensor(flat, new long[] { ChannelCount, FrameCount }, ScalarType.Float32);
    }

    /// <summary>A clip from a float tensor [channels, frames] or [frames] (copied to CPU float32).</summary>
    public static AudioClip FromTensor(Tensor samples, int sampleRate)
    {
        using var t = samples.detach().to(CPU).to_type(ScalarType.Float32).contiguous();
        using var t2 = t.dim() == 1 ? t.unsqueeze(0) : t.alias();
        if (t2.dim() != 2) throw new ArgumentException($"expected [channels, frames] or [frames], got [{string.Join(",", samples.shape)}]", nameof(samples));
        var all = t2.data<float>().ToArray();
        int c = (int)t2.shape[0], n = (int)t2.shape[1];
        var channels = new float[c][];
        for (int ch = 0; ch < c; ch++) channels[ch] = all.AsSpan(ch * n, n).ToArray();
        return new AudioClip(channels, sampleRate);
    }
}
