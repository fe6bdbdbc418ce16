using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Audio;

/// <summary>
/// Band-limited resampling identical to torchaudio 2.0's <c>transforms.Resample</c> (Hann-windowed sinc, polyphase):
/// with g = gcd(orig, new), o = orig/g, n = new/g, base = min(o, n)·rolloff and width = ceil(lw·o/base), kernel row
/// j (output phase) and tap k hold sinc(π t)·cos(π t / (2 lw))²·base/o for t = clamp(((k − width)/o − j/n)·base, ±lw),
/// computed in float64 (phase j/n in float32, as torchaudio does) and rounded to float32. The input is zero-padded
/// (width, width + o), correlated with stride o, the phases interleaved and ceil(n·N/o) samples kept. The correlation
/// runs in float64 on the float32 kernel; the result is float32.
/// </summary>
public static class Resampler
{
    /// <summary>Kernel budget per chunk of phases (coprime rates give kernels with tens of thousands of rows).</summary>
    private const long ChunkElements = 1L << 20;

    public static (long Orig, long New, int Width) Reduce(int origFreq, int newFreq, ResampleConfig? config = null)
    {
        var cfg = config ?? new ResampleConfig();
        if (origFreq <= 0 || newFreq <= 0) throw new ArgumentOutOfRangeException(nameof(origFreq), $"sample rates must be positive ({origFreq} -> {newFreq})");
        long g = Gcd(origFreq, newFreq), o = origFreq / g, n = newFreq / g;
        double baseFreq = Math.Min(o, n) * cfg.Rolloff;
        int width = (int)Math.Ceiling(cfg.LowpassFilterWidth * o / baseFreq);
        return (o, n, width);
    }

    /// <summary>The full kernel [n, 1, 2·width + o] (float32), as torchaudio's <c>_get_sinc_resample_kernel</c>.</summary>
    public static Tensor Kernel(int origFreq, int newFreq, ResampleConfig? config = null)
    {
        var (_, n, _) = Reduce(origFreq, newFreq, config);
        using var rows = KernelRows(origFreq, newFreq, 0, n, config);
        return rows.unsqueeze(1);
    }

    /// <summary>Kernel rows for phases [j0, j1): [j1 − j0, 2·width + o] float32.</summary>
    public static Tensor KernelRows(int origFreq, int newFreq, long j0, long j1, ResampleConfig? config = null)
    {
        var cfg = config ?? new ResampleConfig();
        var (o, n, width) = Reduce(origFreq, newFreq, cfg);
        double baseFreq = Math.Min(o, n) * cfg.Rolloff;
        int lw = cfg.LowpassFilterWidth;
        using var scope = NewDisposeScope();
        var idx = arange(-width, width + o, 1, ScalarType.Float64).div(o).unsqueeze(0);
        var phase = cfg.PhaseDtype == "float32"
            ? arange(-j0, -j1, -1, ScalarType.Int64).div(n)
            : arange(-j0, -j1, -1, ScalarType.Float64).div(n);
        var t = phase.unsqueeze(1).add(idx);
        t.mul_(baseFreq).clamp_(-lw, lw);
        var window = t.mul(Math.PI).div(lw).div(2).cos().pow(2);
        t.mul_(Math.PI);
        var kernels = where(t.eq(0), ones_like(t), t.sin().div(t));
        kernels.mul_(window.mul(baseFreq / o));
        return kernels.to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>Resamples along the last dimension; returns float32 [..., ceil(n·N/o)]. Equal rates return a copy.</summary>
    public static Tensor Resample(Tensor waveform, int origFreq, int newFreq, ResampleConfig? config = null)
    {
        if (origFreq == newFreq) return waveform.to_type(ScalarType.Float32).clone();
        var (o, n, width) = Reduce(origFreq, newFreq, config);
        long taps = 2 * width + o;
        using var scope = NewDisposeScope();
        var shape = waveform.shape;
        long length = shape[^1];
        var x = waveform.reshape(-1, length).to_type(ScalarType.Float64);
        x = nn.functional.pad(x, new long[] { width, width + o });
        var frames = x.unfold(1, taps, o);                          // [B, blocks, taps]
        long chunk = Math.Max(1, ChunkElements / taps);
        var parts = new List<Tensor>();
        for (long j0 = 0; j0 < n; j0 += chunk)
        {
            long j1 = Math.Min(n, j0 + chunk);
            var rows = KernelRows(origFreq, newFreq, j0, j1, config).to(waveform.device).to_type(ScalarType.Float64);
            parts.Add(frames.matmul(rows.t()));                       // [B, blocks, j1 - j0]
        }
        var y = (parts.Count == 1 ? parts[0] : cat(parts, 2)).reshape(x.shape[0], -1);
        long target = (n * length + o - 1) / o;
        var outShape = shape.ToArray();
        outShape[^1] = target;
        return y.narrow(1, 0, target).to_type(ScalarType.Float32).reshape(outShape).MoveToOuterDisposeScope();
    }

    public static float[] Resample(float[] samples, int origFreq, int newFreq, ResampleConfig? config = null)
    {
        using var x = tensor(samples);
        using var y = Resample(x, origFreq, newFreq, config);
        return y.data<float>().ToArray();
    }

    public static AudioClip Resample(AudioClip clip, int newFreq, ResampleConfig? config = null)
    {
        if (clip.SampleRate == newFreq) return clip;
        using var x = clip.ToTensor();
        using var y = Resample(x, clip.SampleRate, newFreq, config);
        return AudioClip.FromTensor(y, newFreq);
    }

    private static long Gcd(long a, long b)
    {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }
}
