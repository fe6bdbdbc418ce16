using SonicDiffusion.Core;
using SonicDiffusion.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Audio;

/// <summary>
/// The CLAP 2022 log-mel front end (torchlibrosa Spectrogram + LogmelFilterBank, as SonicDiffusion's Cnn14 runs it)
/// and the waveform preparation of CLAPWrapper.load_audio_into_tensor: channel mean → resample to 44.1 kHz →
/// fit to 10 s → log-mel [B, 1, T, n_mels].
/// <para>Fitting: a clip of at most <see cref="ClapFrontEndConfig.NumSamples"/> samples is tiled ceil(N/len) times
/// and cut (repeat-pad, never zero-pad); a longer clip is cropped to [cropStart, cropStart + N). The official code
/// draws cropStart at random (Python's unseeded <c>random.randrange(len − N)</c>); here it is a parameter, default 0
/// (see <see cref="RandomCropStart"/> for the official draw from a seeded generator).</para>
/// <para>STFT = the DFT Conv1d of torchlibrosa written as frames · W: frame t is samples [t·hop, t·hop + n_fft) of
/// the reflect-padded signal; W's columns are the conv_real / conv_imag rows. The DFT rows and melW are computed
/// (periodic Hann, librosa Slaney mel) unless given, e.g. from a checkpoint, whose values then take precedence.</para>
/// </summary>
public sealed class ClapFrontEnd : IDisposable
{
    /// <summary>Key names of the front-end tensors in the CLAP 2022 checkpoint, below <see cref="CheckpointPrefix"/>.</summary>
    public const string CheckpointPrefix = "audio_encoder.base.";
    public const string StftRealKey = "spectrogram_extractor.stft.conv_real.weight";
    public const string StftImagKey = "spectrogram_extractor.stft.conv_imag.weight";
    public const string MelWKey = "logmel_extractor.melW";

    public ClapFrontEndConfig Config { get; }
    /// <summary>[bins, 1, n_fft] float32 (CPU): cos(2πkn/N)·w[n].</summary>
    public Tensor StftReal { get; }
    /// <summary>[bins, 1, n_fft] float32 (CPU): −sin(2πkn/N)·w[n].</summary>
    public Tensor StftImag { get; }
    /// <summary>[bins, n_mels] float32 (CPU).</summary>
    public Tensor MelW { get; }

    private readonly object _lock = new();
    private (Device Device, ScalarType Dtype, Tensor Dft, Tensor Mel)? _cache;

    public ClapFrontEnd(ClapFrontEndConfig? config = null, Tensor? melW = null, Tensor? stftReal = null, Tensor? stftImag = null)
    {
        Config = config ?? new ClapFrontEndConfig();
        Config.Validate();
        int bins = Config.NumBins, nFft = Config.NFft;
        if (stftReal is null || stftImag is null)
        {
            var (re, im) = StftKernels(nFft, Config.WinLength);
            StftReal = stftReal is null ? re : Own(stftReal, StftRealKey, bins, 1, nFft);
            StftImag = stftImag is null ? im : Own(stftImag, StftImagKey, bins, 1, nFft);
            if (stftReal is not null) re.Dispose();
            if (stftImag is not null) im.Dispose();
        }
        else
        {
            StftReal = Own(stftReal, StftRealKey, bins, 1, nFft);
            StftImag = Own(stftImag, StftImagKey, bins, 1, nFft);
        }
        MelW = melW is null ? SlaneyMel.MelW(Config.SampleRate, nFft, Config.NMels, Config.Fmin, Config.Fmax) : Own(melW, MelWKey, bins, Config.NMels);
        // Owned for the front end's lifetime, whatever dispose scope the caller is in.
        StftReal.DetachFromDisposeScope();
        StftImag.DetachFromDisposeScope();
        MelW.DetachFromDisposeScope();
    }

    /// <summary>Uses the front-end tensors a checkpoint carries (prefix + key), computing any that are absent.</summary>
    public static ClapFrontEnd FromTensorSource(ClapFrontEndConfig config, ITensorSource source, string prefix = CheckpointPrefix)
    {
        Tensor? Get(string key) => source.Names.Contains(prefix + key) ? source.Read(prefix + key, ScalarType.Float32) : null;
        using var re = Get(StftRealKey);
        using var im = Get(StftImagKey);
        using var mel = Get(MelWKey);
        return new ClapFrontEnd(config, mel, re, im);
    }

    private static Tensor Own(Tensor t, string key, params long[] shape)
    {
        if (!t.shape.SequenceEqual(shape))
            throw new SonicException($"{key}: shape [{string.Join(",", t.shape)}] does not match the front-end config (expected [{string.Join(",", shape)}])");
        return t.detach().to(CPU).to_type(ScalarType.Float32).contiguous().clone();
    }

    // ---------------------------------------------------------------- fixed tensors

    /// <summary>Periodic Hann window (scipy get_window('hann', n, fftbins=True)), float32 [n].</summary>
    public static Tensor HannWindow(int n) => tensor(HannWindow64(n).Select(x => (float)x).ToArray());

    private static double[] HannWindow64(int n)
    {
        // scipy general_cosine on n + 1 points, truncated: 0.5 + 0.5·cos(fac), fac = linspace(-π, π, n + 1)
        var w = new double[n];
        double step = 2 * Math.PI / n;
        for (int i = 0; i < n; i++) w[i] = 0.5 + 0.5 * Math.Cos(i * step + -Math.PI);
        return w;
    }

    /// <summary>torchlibrosa STFT Conv1d weights, float32 [n_fft/2 + 1, 1, n_fft] each (window centred when shorter).</summary>
    public static (Tensor Real, Tensor Imag) StftKernels(int nFft, int winLength)
    {
        var win = new double[nFft];
        var hann = HannWindow64(winLength);
        int left = (nFft - winLength) / 2;
        Array.Copy(hann, 0, win, left, winLength);
        int bins = nFft / 2 + 1;
        var re = new float[bins * nFft];
        var im = new float[bins * nFft];
        for (int k = 0; k < bins; k++)
            for (int n = 0; n < nFft; n++)
            {
                double angle = 2 * Math.PI * ((long)k * n % nFft) / nFft;
                re[k * nFft + n] = (float)(Math.Cos(angle) * win[n]);
                im[k * nFft + n] = (float)(-Math.Sin(angle) * win[n]);
            }
        var shape = new long[] { bins, 1, nFft };
        return (tensor(re, shape, ScalarType.Float32), tensor(im, shape, ScalarType.Float32));
    }

    // ---------------------------------------------------------------- spectrogram

    private ScalarType ComputeType => Config.ComputeFloat64 ? ScalarType.Float64 : ScalarType.Float32;

    private (Tensor Dft, Tensor Mel) Weights(Device device)
    {
        lock (_lock)
        {
            if (_cache is { } c && c.Device.type == device.type && c.Device.index == device.index && c.Dtype == ComputeType) return (c.Dft, c.Mel);
            if (_cache is { } old) { old.Dft.Dispose(); old.Mel.Dispose(); }
            using var scope = NewDisposeScope();
            var dft = cat(new[] { StftReal.squeeze(1), StftImag.squeeze(1) }, 0).t().to_type(ComputeType).to(device).contiguous();
            var mel = MelW.to_type(ComputeType).to(device).contiguous();
            dft.DetachFromDisposeScope();
            mel.DetachFromDisposeScope();
            _cache = (device, ComputeType, dft, mel);
            return (dft, mel);
        }
    }

    /// <summary>Power spectrogram in the compute dtype, [B, 1, T, bins], from waveforms [B, N] or [N].</summary>
    private Tensor PowerInternal(Tensor waveform)
    {
        using var scope = NewDisposeScope();
        var x = waveform.dim() switch
        {
            1 => waveform.unsqueeze(0),
            2 => waveform.alias(),
            3 when waveform.shape[1] == 1 => waveform.squeeze(1),
            _ => throw new ArgumentException($"waveform must be [N], [B, N] or [B, 1, N], got [{string.Join(",", waveform.shape)}]", nameof(waveform)),
        };
        x = x.to_type(ComputeType);
        int nFft = Config.NFft, bins = Config.NumBins;
        if (Config.Center)
        {
            long pad = nFft / 2;
            bool reflect = Config.PadMode.StartsWith("reflect", StringComparison.OrdinalIgnoreCase);
            if (reflect && x.shape[1] <= pad)
                throw new ArgumentException($"waveform of {x.shape[1]} samples is too short for reflect padding of {pad}", nameof(waveform));
            x = nn.functional.pad(x.unsqueeze(1), new[] { pad, pad }, reflect ? PaddingModes.Reflect : PaddingModes.Constant).squeeze(1);
        }
        if (x.shape[1] < nFft) throw new ArgumentException($"waveform of {x.shape[1]} samples is shorter than n_fft {nFft}", nameof(waveform));
        var (dft, _) = Weights(x.device);
        var frames = x.unfold(1, nFft, Config.HopLength);           // [B, T, n_fft]
        var spec = frames.matmul(dft);                               // [B, T, 2·bins]
        var re = spec.narrow(2, 0, bins);
        var im = spec.narrow(2, bins, bins);
        var power = re.mul(re).add_(im.mul(im));
        if (Config.Power != 2.0) power = power.pow(Config.Power / 2.0);
        return power.unsqueeze(1).MoveToOuterDisposeScope();
    }

    /// <summary>torchlibrosa Spectrogram: power |STFT|^power as float32 [B, 1, T, bins].</summary>
    public Tensor PowerSpectrogram(Tensor waveform)
    {
        using var p = PowerInternal(waveform);
        return p.to_type(ScalarType.Float32);
    }

    /// <summary>torchlibrosa LogmelFilterBank on a power spectrogram [B, 1, T, bins]: float32 [B, 1, T, n_mels] in dB.</summary>
    public Tensor LogMelFromPower(Tensor power)
    {
        using var scope = NewDisposeScope();
        var (_, mel) = Weights(power.device);
        var m = power.to_type(ComputeType).matmul(mel);
        var db = m.clamp_min(Config.Amin).log10_().mul_(10.0);
        db = db.sub_(10.0 * Math.Log10(Math.Max(Config.Amin, Config.Ref)));
        if (Config.TopDb is double topDb)
        {
            double max = db.max().item<double>();
            db = db.clamp_min(max - topDb);   // torchlibrosa: over the whole batch
        }
        return db.to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>Log-mel of waveforms [B, N] (or [N]) already at the config's sample rate: float32 [B, 1, T, n_mels].</summary>
    public Tensor LogMel(Tensor waveform)
    {
        using var power = PowerInternal(waveform);
        return LogMelFromPower(power);
    }

    // ---------------------------------------------------------------- waveform preparation

    /// <summary>
    /// Mono, resampled, fitted waveform [num_samples] (float32, CPU). When <paramref name="trace"/> is given it receives
    /// "decoded" [C, N], "mono" [1, N] and "resampled" [1, N'] (caller disposes them).
    /// </summary>
    public Tensor PrepareWaveform(AudioClip clip, long cropStart = 0, IDictionary<string, Tensor>? trace = null)
    {
        using var scope = NewDisposeScope();
        var mono = tensor(clip.ToMono()).unsqueeze(0);
        var resampled = Resampler.Resample(mono, clip.SampleRate, Config.SampleRate, Config.Resample);
        var fitted = FitToLength(resampled.reshape(-1), Config.NumSamples, cropStart);
        if (trace != null)
        {
            trace["decoded"] = clip.ToTensor().MoveToOuterDisposeScope();
            trace["mono"] = mono.MoveToOuterDisposeScope();
            trace["resampled"] = resampled.MoveToOuterDisposeScope();
        }
        return fitted.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Length of <paramref name="source"/> after resampling to the front end's rate (torchaudio: ceil(n·N/o)).</summary>
    public long ResampledLength(IAudioSource source)
    {
        if (source.SampleRate == Config.SampleRate) return source.FrameCount;
        var (o, n, _) = Resampler.Reduce(source.SampleRate, Config.SampleRate, Config.Resample);
        return (n * source.FrameCount + o - 1) / o;
    }

    /// <summary>
    /// As <see cref="PrepareWaveform(AudioClip, long, IDictionary{string, Tensor}?)"/> for a windowed source, reading
    /// only what the result needs: a clip longer than <see cref="ClapFrontEndConfig.NumSamples"/> (after resampling)
    /// is cropped at <paramref name="cropStart"/> (in resampled samples) by reading the input frames of that window
    /// plus the resampler's support, aligned to its polyphase blocks, so the result equals the crop of the fully
    /// resampled signal. A shorter clip is read whole and repeat-padded. NaN or infinite samples are refused.
    /// </summary>
    public Tensor PrepareWaveform(IAudioSource source, long cropStart = 0)
    {
        long numSamples = Config.NumSamples;
        long outLength = ResampledLength(source);
        if (outLength <= 0) throw new SonicException($"{source.Name}: audio clip has no samples");
        int rate = source.SampleRate;
        if (outLength <= numSamples)
        {
            if (source.FrameCount > int.MaxValue) throw new SonicException($"{source.Name}: clip too long to read whole");
            var all = source.ReadMono(0, (int)source.FrameCount);
            CheckFinite(all, source.Name, 0, rate);
            using var scope = NewDisposeScope();
            var mono = tensor(all).unsqueeze(0);
            var resampled = Resampler.Resample(mono, rate, Config.SampleRate, Config.Resample);
            return FitToLength(resampled.reshape(-1), numSamples, 0).contiguous().MoveToOuterDisposeScope();
        }
        if (cropStart < 0 || cropStart > outLength - numSamples)
        {
            double len = (double)outLength / Config.SampleRate, max = (double)(outLength - numSamples) / Config.SampleRate;
            throw new SonicException($"{source.Name}: audio offset {cropStart / (double)Config.SampleRate:0.###} s is outside the clip: it is {len:0.###} s long, so a {Config.DurationS:0.###} s window must start between 0 and {max:0.###} s");
        }
        if (rate == Config.SampleRate)
        {
            var window = source.ReadMono(cropStart, (int)numSamples);
            if (window.Length != numSamples)
            {
                long actual = cropStart + window.Length;
                if (actual >= source.FrameCount || actual <= 0) throw new SonicException($"{source.Name}: audio ends early ({actual} of {source.FrameCount} frames decoded)");
                return PrepareWaveform(new LengthLimitedSource(source, actual), cropStart);
            }
            CheckFinite(window, source.Name, cropStart, rate);
            return tensor(window);
        }
        var (o, n, width) = Resampler.Reduce(rate, Config.SampleRate, Config.Resample);
        long b0 = cropStart / n, b1 = (cropStart + numSamples - 1) / n;
        long leftBlocks = (width + o - 1) / o;
        long firstBlock = Math.Max(0, b0 - leftBlocks);
        long inStart = firstBlock * o;
        long inEnd = Math.Min(source.FrameCount, b1 * o + width + 2 * o);
        if (inEnd - inStart > int.MaxValue) throw new SonicException($"{source.Name}: crop window too large to read");
        var segment = source.ReadMono(inStart, (int)(inEnd - inStart));
        if (segment.Length != inEnd - inStart)
        {
            // The container over-stated the length (e.g. a cut MP3 whose header gives the full length): go again with
            // the length actually decoded.
            long actual = inStart + segment.Length;
            if (actual >= source.FrameCount || actual <= 0) throw new SonicException($"{source.Name}: audio ends early ({actual} of {source.FrameCount} frames decoded)");
            return PrepareWaveform(new LengthLimitedSource(source, actual), cropStart);
        }
        CheckFinite(segment, source.Name, inStart, rate);
        using (var scope = NewDisposeScope())
        {
            var seg = tensor(segment).unsqueeze(0);
            var resampled = Resampler.Resample(seg, rate, Config.SampleRate, Config.Resample).reshape(-1);
            return resampled.narrow(0, cropStart - firstBlock * n, numSamples).contiguous().clone().MoveToOuterDisposeScope();
        }
    }

    /// <summary>A source whose real length turned out shorter than its container said.</summary>
    private sealed class LengthLimitedSource(IAudioSource inner, long frames) : IAudioSource
    {
        public string Name => inner.Name;
        public AudioFileFormat Format => inner.Format;
        public int SampleRate => inner.SampleRate;
        public int Channels => inner.Channels;
        public long FrameCount => frames;
        public float[] ReadMono(long start, int count) => inner.ReadMono(start, (int)Math.Max(0, Math.Min(count, frames - start)));
        public void Dispose() { }
    }

    private static void CheckFinite(float[] samples, string name, long start, int rate)
    {
        int bad = 0;
        long first = -1;
        for (int i = 0; i < samples.Length; i++)
            if (!float.IsFinite(samples[i]))
            {
                if (bad++ == 0) first = start + i;
            }
        if (bad > 0)
            throw new SonicException($"{name}: {bad} NaN or infinite sample{(bad == 1 ? "" : "s")} (first at {first / (double)rate:0.###} s); the file is damaged");
    }

    /// <summary>Prepared waveforms of several clips, [B, num_samples] — the Cnn14 encoder's input.</summary>
    public Tensor PrepareBatch(IReadOnlyList<AudioClip> clips, long cropStart = 0)
    {
        using var scope = NewDisposeScope();
        var rows = clips.Select(c => PrepareWaveform(c, cropStart)).ToArray();
        return stack(rows, 0).MoveToOuterDisposeScope();
    }

    /// <summary>Clip → log-mel [1, 1, T, n_mels]; <paramref name="trace"/> as in <see cref="PrepareWaveform"/>.</summary>
    public Tensor LogMel(AudioClip clip, long cropStart = 0, IDictionary<string, Tensor>? trace = null)
    {
        using var wave = PrepareWaveform(clip, cropStart, trace);
        using var batch = wave.unsqueeze(0);
        return LogMel(batch);
    }

    /// <summary>Audio file (any format <see cref="AudioReader"/> reads) → log-mel [1, 1, T, n_mels].</summary>
    public Tensor LogMelFromFile(string path, long cropStart = 0) => LogMel(AudioReader.Read(path), cropStart);

    /// <summary>
    /// Repeat-pad or crop a 1-D waveform to <paramref name="numSamples"/>: if numSamples ≥ length, tile
    /// ceil(numSamples / length) times and cut (cropStart ignored); otherwise take [cropStart, cropStart + numSamples).
    /// </summary>
    public static Tensor FitToLength(Tensor wave, long numSamples, long cropStart = 0)
    {
        if (wave.dim() != 1) throw new ArgumentException($"expected a 1-D waveform, got [{string.Join(",", wave.shape)}]", nameof(wave));
        long length = wave.shape[0];
        if (length == 0) throw new SonicException("audio clip has no samples");
        if (numSamples >= length)
        {
            long reps = (numSamples + length - 1) / length;
            using var tiled = wave.repeat(reps);
            return tiled.narrow(0, 0, numSamples).clone();
        }
        if (cropStart < 0 || cropStart > length - numSamples)
            throw new SonicException($"crop start {cropStart} is outside [0, {length - numSamples}] for a clip of {length} samples (needs {numSamples})");
        return wave.narrow(0, cropStart, numSamples).clone();
    }

    /// <summary>
    /// The official crop start for a clip of <paramref name="length"/> resampled samples: uniform in
    /// [0, length − numSamples − 1] (Python <c>random.randrange(length − numSamples)</c>), 0 when the clip is not longer.
    /// </summary>
    public static long RandomCropStart(long length, long numSamples, Random rng) =>
        length > numSamples ? rng.NextInt64(length - numSamples) : 0;

    public void Dispose()
    {
        StftReal.Dispose();
        StftImag.Dispose();
        MelW.Dispose();
        if (_cache is { } c) { c.Dft.Dispose(); c.Mel.Dispose(); }
        _cache = null;
    }
}
