using System.Text.Json;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Data.Import;
using SonicDiffusion.Data.World;
using TorchSharp;

namespace SonicDiffusion.Training;

/// <summary>
/// Degrades a training waveform the way real recordings differ from clean synthesis: speed/pitch, spectral tilt,
/// reverberation, a background of another sound or room tone, noise, gain, clipping and a lossy codec round trip
/// (<see cref="AudioAugmentationOptions"/>). Every draw comes from a stream keyed by (seed, clip, crop), so the result
/// does not depend on threads or on the order clips are processed in. The length of the waveform is kept.
/// </summary>
public sealed class AudioAugmentation
{
    private readonly AudioAugmentationOptions _o;
    private readonly int _sampleRate;
    private readonly string? _ffmpeg;

    public AudioAugmentation(AudioAugmentationOptions options, int sampleRate, string? ffmpeg = null)
    {
        _o = options.Validate();
        _sampleRate = sampleRate;
        _ffmpeg = ffmpeg ?? Ffmpeg.TryLocate()?.FfmpegPath;
    }

    /// <summary>Whether the codec round trip can run (Debian's ffmpeg found, as the dataset importers find it); without it that step is left out.</summary>
    public bool HasCodec => _ffmpeg is not null;

    /// <summary>What the augmentation does, for cache keys: the options and whether the codec step is available.</summary>
    public string Describe() => JsonSerializer.Serialize(_o, ConfigJson.Options) + (HasCodec ? "+codec" : "-codec");

    /// <summary>
    /// The augmented copy of <paramref name="wave"/> for crop <paramref name="crop"/> of clip <paramref name="clipKey"/>.
    /// <paramref name="background"/> returns another clip's waveform at this sample rate (of another class), or null.
    /// The names of the steps taken are added to <paramref name="steps"/>.
    /// </summary>
    public float[] Apply(float[] wave, ulong clipKey, int crop, Func<WorldRandom, float[]?>? background = null, List<string>? steps = null)
    {
        var rng = WorldRandom.Derive(_o.Seed, (long)clipKey, 0xA06D0000UL + (ulong)crop);
        int n = wave.Length;
        var x = Array.ConvertAll(wave, v => (double)v);
        double rms0 = Rms(x);
        if (rng.Chance(_o.SpeedProbability) && n > 16)
        {
            x = Speed(x, 1 + rng.Uniform(-_o.SpeedRange, _o.SpeedRange));
            steps?.Add("speed");
        }
        if (rng.Chance(_o.TiltProbability))
        {
            Tilt(x, rng.Uniform(300, 3000), rng.Uniform(-_o.TiltDb, _o.TiltDb));
            steps?.Add("tilt");
        }
        if (rng.Chance(_o.ReverbProbability))
        {
            x = Reverb(x, rng);
            steps?.Add("reverb");
        }
        if (rng.Chance(_o.BackgroundProbability))
        {
            var other = background?.Invoke(rng);
            if (other is { Length: > 0 })
            {
                double gain = rms0 / Math.Max(1e-9, Rms(Array.ConvertAll(other, v => (double)v))) * Dsp.Db(-rng.Uniform(10, 22));
                for (int i = 0; i < n; i++) x[i] += gain * other[i % other.Length];
                steps?.Add("background");
            }
            else
            {
                var tone = Dsp.Brown(rng, n);
                double gain = rms0 / Math.Max(1e-9, Rms(tone)) * Dsp.Db(-rng.Uniform(18, 30));
                for (int i = 0; i < n; i++) x[i] += gain * tone[i];
                steps?.Add("room tone");
            }
        }
        if (rng.Chance(_o.NoiseProbability))
        {
            var noise = rng.Chance(0.5) ? Dsp.White(rng, n) : Dsp.Pink(rng, n);
            double gain = rms0 / Math.Max(1e-9, Rms(noise)) * Dsp.Db(-rng.Uniform(10, 35));
            for (int i = 0; i < n; i++) x[i] += gain * noise[i];
            steps?.Add("noise");
        }
        if (rng.Chance(_o.GainProbability))
        {
            double g = Dsp.Db(rng.Uniform(-_o.GainDb, _o.GainDb));
            for (int i = 0; i < n; i++) x[i] *= g;
            steps?.Add("gain");
        }
        if (rng.Chance(_o.ClipProbability))
        {
            double drive = rng.Uniform(2, 6), peak = x.Max(Math.Abs);
            if (peak > 0)
            {
                double ceiling = peak / drive;
                for (int i = 0; i < n; i++) x[i] = Math.Clamp(x[i], -ceiling, ceiling) * drive;
            }
            steps?.Add("clip");
        }
        bool codec = rng.Chance(_o.CodecProbability);
        bool mp3 = rng.Chance(0.5);
        int quality = mp3 ? rng.Pick([32, 48, 64, 96]) : rng.Range(0, 3);
        var result = new float[n];
        for (int i = 0; i < n; i++) result[i] = (float)Math.Clamp(x[i], -1, 1);
        if (codec && _ffmpeg is not null)
        {
            result = CodecRoundTrip(result, mp3, quality);
            steps?.Add(mp3 ? $"mp3 {quality}k" : $"ogg q{quality}");
        }
        return result;
    }

    private static double Rms(double[] x)
    {
        double s = 0;
        foreach (var v in x) s += v * v;
        return Math.Sqrt(s / Math.Max(1, x.Length));
    }

    /// <summary>Plays the clip <paramref name="factor"/> times faster (linear interpolation), looped to the same length.</summary>
    private static double[] Speed(double[] x, double factor)
    {
        int n = x.Length;
        var y = new double[n];
        for (int i = 0; i < n; i++)
        {
            double p = i * factor % (n - 1);
            int k = (int)p;
            double f = p - k;
            y[i] = x[k] * (1 - f) + x[k + 1] * f;
        }
        return y;
    }

    /// <summary>Low side scaled by +tilt/2 dB and high side by −tilt/2 dB around a one-pole split at <paramref name="corner"/> Hz.</summary>
    private void Tilt(double[] x, double corner, double tiltDb)
    {
        double a = Math.Exp(-2 * Math.PI * corner / _sampleRate), low = 0, gl = Dsp.Db(tiltDb / 2), gh = Dsp.Db(-tiltDb / 2);
        for (int i = 0; i < x.Length; i++)
        {
            low = (1 - a) * x[i] + a * low;
            x[i] = gl * low + gh * (x[i] - low);
        }
    }

    /// <summary>Convolution (by FFT) with exponentially decaying noise, mixed with the dry signal.</summary>
    private double[] Reverb(double[] x, WorldRandom rng)
    {
        double rt60 = rng.Uniform(0.15, 1.0), wet = rng.Uniform(0.15, 0.5);
        int len = Math.Min(x.Length, (int)(rt60 * _sampleRate));
        int pre = (int)(rng.Uniform(0.002, 0.02) * _sampleRate);
        var ir = new double[len + pre];
        double k = Math.Log(1000) / Math.Max(1, len), energy = 0;
        for (int i = 0; i < len; i++)
        {
            ir[pre + i] = rng.Normal() * Math.Exp(-k * i);
            energy += ir[pre + i] * ir[pre + i];
        }
        double norm = 1 / Math.Sqrt(Math.Max(1e-12, energy));
        using var scope = torch.NewDisposeScope();
        long size = 1;
        while (size < x.Length + ir.Length) size <<= 1;
        var xs = torch.tensor(x);
        var h = torch.tensor(ir);
        var y = torch.fft.irfft(torch.fft.rfft(xs, size) * torch.fft.rfft(h, size), size).narrow(0, 0, x.Length);
        var conv = y.data<double>().ToArray();
        var outp = new double[x.Length];
        for (int i = 0; i < x.Length; i++) outp[i] = (1 - wet) * x[i] + wet * norm * conv[i];
        return outp;
    }

    /// <summary>Encodes with ffmpeg to MP3 or Ogg Vorbis and decodes with this project's readers; same length out.</summary>
    private float[] CodecRoundTrip(float[] x, bool mp3, int quality)
    {
        string dir = Path.Combine(Path.GetTempPath(), $"sonic-codec-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            string input = Path.Combine(dir, "in.wav"), output = Path.Combine(dir, mp3 ? "out.mp3" : "out.ogg");
            WavWriter.WritePcm16(input, x, _sampleRate);
            var args = mp3
                ? new[] { "-nostdin", "-loglevel", "error", "-y", "-i", input, "-c:a", "libmp3lame", "-b:a", $"{quality}k", output }
                : ["-nostdin", "-loglevel", "error", "-y", "-i", input, "-c:a", "libvorbis", "-q:a", quality.ToString(System.Globalization.CultureInfo.InvariantCulture), output];
            var (code, _, error) = Ffmpeg.Run(_ffmpeg!, args);
            if (code != 0) throw new SonicException($"{_ffmpeg}: {(mp3 ? "MP3" : "Ogg")} round trip failed (exit {code}): {error.Trim().Split('\n')[0]}");
            var clip = AudioReader.Read(output);
            var mono = clip.ToMono();
            if (clip.SampleRate != _sampleRate)
            {
                using var scope = torch.NewDisposeScope();
                mono = Resampler.Resample(torch.tensor(mono).unsqueeze(0), clip.SampleRate, _sampleRate, new ResampleConfig()).reshape(-1).data<float>().ToArray();
            }
            var result = new float[x.Length];
            Array.Copy(mono, result, Math.Min(mono.Length, result.Length));
            return result;
        }
        finally
        {
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }
}
