using SonicDiffusion.Core;
using SonicDiffusion.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// Wav2CLIP (<c>wav2clip.get_model()</c>: <c>ResNetExtractor(checkpoint, "frozen", transform=True)</c>): the audio
/// ResNet (<c>audio_encoder.*</c>) and the MLP into CLIP's image-embedding space (<c>audio_transform.sequential.{0,3}</c>:
/// Linear → ReLU → Dropout → Linear). Loads the released <c>Wav2CLIP.pt</c> (a dict of those keys, read by the safe
/// unpickler; other entries are ignored) or a safetensors copy. <see cref="Embed"/> embeds one clip per call, as the
/// official evaluation does (the encoder standardises with statistics of its whole input).
/// </summary>
public sealed class Wav2Clip : nn.Module
{
    /// <summary>The official evaluation's clip length: 442 763 samples (≈ 10 s at 44.1 kHz, fed to this 16 kHz model as they are).</summary>
    public const int PaperSamples = 442_763;
    public const int PaperSampleRate = 44_100;
    /// <summary>The rate Wav2CLIP was trained at (the <c>--wav2clip-resample</c> input).</summary>
    public const int NativeSampleRate = 16_000;

    private readonly Wav2ClipEncoder audio_encoder;
    private readonly Sequential audio_transform;

    public int WidthDivisor { get; }
    public string Source { get; private set; } = "";

    public Wav2Clip(int widthDivisor = 1) : base(nameof(Wav2Clip))
    {
        if (widthDivisor < 1 || 64 % widthDivisor != 0) throw new SonicException($"Wav2CLIP width divisor {widthDivisor}: must divide 64");
        WidthDivisor = widthDivisor;
        audio_encoder = new Wav2ClipEncoder(widthDivisor);
        long u = audio_encoder.OutputDim;
        audio_transform = nn.Sequential(("sequential", nn.Sequential(("0", nn.Linear(u, u)), ("1", nn.ReLU()), ("2", nn.Dropout(0.1)), ("3", nn.Linear(u, u)))));
        RegisterComponents();
    }

    /// <summary>One mono waveform [T] or [1, T] → embedding [1, D] (not normalised).</summary>
    public Tensor Embed(Tensor waveform)
    {
        using var scope = torch.NewDisposeScope();
        var w = waveform.dim() == 1 ? waveform.unsqueeze(0) : waveform;
        if (w.dim() != 2 || w.shape[0] != 1) throw new SonicException($"Wav2CLIP: expected one waveform [T], got [{string.Join(", ", waveform.shape)}]");
        using var oneDnnOff = w.device_type == DeviceType.CPU ? CpuKernels.OneDnnOff() : null;
        return audio_transform.forward(audio_encoder.forward(w)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Mean and unbiased std of the log-spectrograms of all <paramref name="waveforms"/> (float64 sums): the official
    /// <c>evaluation.py</c> passes all its audio to one <c>embed_audio</c> call, so its standardisation uses the
    /// statistics of every clip; here they are accumulated first (one clip at a time) and each clip then runs alone
    /// (<see cref="EmbedStandardized"/>).
    /// </summary>
    public (double Mean, double Std) Standardization(IEnumerable<Tensor> waveforms)
    {
        using var oneDnnOff = CpuKernels.OneDnnOff();
        double sum = 0, sumSq = 0;
        long n = 0;
        foreach (var w in waveforms)
        {
            using var scope = torch.NewDisposeScope();
            var x = audio_encoder.LogSpectrogram(w.reshape(1, -1)).to_type(ScalarType.Float64);
            sum += x.sum().item<double>();
            sumSq += x.square().sum().item<double>();
            n += x.numel();
        }
        if (n < 2) throw new SonicException("Wav2CLIP: no clips to standardise over");
        double mean = sum / n;
        return (mean, Math.Sqrt(Math.Max(0, (sumSq - n * mean * mean) / (n - 1))));
    }

    /// <summary>One clip's embedding [1, D] under a batch's standardisation (<see cref="Standardization"/>).</summary>
    public Tensor EmbedStandardized(Tensor waveform, double mean, double std)
    {
        using var oneDnnOff = CpuKernels.OneDnnOff();
        using var scope = torch.NewDisposeScope();
        var spec = audio_encoder.LogSpectrogram(waveform.reshape(1, -1));
        return audio_transform.forward(audio_encoder.Forward(spec, mean, std)).MoveToOuterDisposeScope();
    }

    /// <summary>The official evaluation's clip: zero-padded or cut to <see cref="PaperSamples"/>.</summary>
    public static Tensor PadOrCut(Tensor mono)
    {
        long n = mono.shape[^1];
        if (n >= PaperSamples) return mono.narrow(-1, 0, PaperSamples).contiguous();
        return nn.functional.pad(mono, new long[] { 0, PaperSamples - n });
    }

    public static Wav2Clip Load(string path)
    {
        if (!File.Exists(path)) throw new SonicException($"{path}: Wav2CLIP checkpoint not found (Wav2CLIP.pt)");
        using var src = TensorFiles.Open(path);
        const string first = "audio_encoder.conv1.weight";
        if (!src.Names.Contains(first)) throw new SonicException($"{path}: no '{first}'; not a Wav2CLIP checkpoint");
        long c = src.Info(first).Shape[0];
        if (c <= 0 || 64 % c != 0) throw new SonicException($"{path}: {first} has {c} output channels; expected 64");
        var weights = new Dictionary<string, Tensor>();
        try
        {
            foreach (var n in src.Names.Where(n => n.StartsWith("audio_encoder.", StringComparison.Ordinal) || n.StartsWith("audio_transform.", StringComparison.Ordinal)))
                weights[n] = src.Read(n, src.Info(n).IsFloat ? ScalarType.Float32 : null);
            var model = new Wav2Clip((int)(64 / c)) { Source = Path.GetFullPath(path) };
            WeightLoader.Load(model, weights, path);
            model.eval();
            return model;
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
    }
}
