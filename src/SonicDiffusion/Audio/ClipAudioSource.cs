namespace SonicDiffusion.Audio;

/// <summary>An <see cref="IAudioSource"/> over a clip already in memory (the channel mean is computed once).</summary>
public sealed class ClipAudioSource(AudioClip clip, string name, AudioFileFormat format = AudioFileFormat.Unknown) : IAudioSource
{
    private float[]? _mono;

    public string Name { get; } = name;
    public AudioFileFormat Format { get; } = format;
    public int SampleRate => clip.SampleRate;
    public int Channels => clip.ChannelCount;
    public long FrameCount => clip.FrameCount;

    public float[] ReadMono(long start, int count)
    {
        _mono ??= clip.ToMono();
        if (start < 0 || count < 0) throw new ArgumentOutOfRangeException(nameof(start));
        if (start >= _mono.Length) return [];
        return _mono.AsSpan((int)start, (int)Math.Min(count, _mono.Length - start)).ToArray();
    }

    public void Dispose() { }
}
