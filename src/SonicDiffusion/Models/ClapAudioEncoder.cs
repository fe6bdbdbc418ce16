using SonicDiffusion.Core;
using SonicDiffusion.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// CLAP 2022 audio encoder as SonicDiffusion uses it: Cnn14 (<c>base</c>) + <c>Projection</c> (<c>projection</c>),
/// then L2 normalisation. Parameter names are those of <c>CLAP_weights_2022.pth['model']</c> without the
/// <c>audio_encoder.</c> prefix. Starts in eval mode (BatchNorm running statistics, no dropout).
/// </summary>
public sealed class ClapAudioEncoder : nn.Module<Tensor, Tensor>
{
    /// <summary>Prefix of the audio branch in <c>CLAP_weights_2022.pth['model']</c>.</summary>
    public const string ClapPrefix = CheckpointConverter.ClapAudioPrefix;
    public const string StftRealName = "base.spectrogram_extractor.stft.conv_real.weight";
    public const string StftImagName = "base.spectrogram_extractor.stft.conv_imag.weight";
    public const string MelWName = "base.logmel_extractor.melW";
    /// <summary>Frozen front-end tensors of a real checkpoint; fixtures may leave them out.</summary>
    public static readonly IReadOnlyList<string> FrontEndNames = [StftRealName, StftImagName, MelWName];

    private readonly Cnn14 @base;
    private readonly ClapProjection projection;

    public Cnn14Config Config { get; }

    /// <summary>True once a checkpoint supplied the STFT kernels and mel matrix (otherwise they hold NaN).</summary>
    public bool FrontEndLoaded { get; private set; }

    public ClapAudioEncoder(Cnn14Config config) : base(nameof(ClapAudioEncoder))
    {
        Config = config.Validate("Cnn14Config");
        @base = new Cnn14(config);
        projection = new ClapProjection(config.OutEmb, config.DProj, config.LayerNormEps);
        RegisterComponents();
        CpuKernels.GuardConvolutions(this);
        eval();
    }

    public Cnn14 Base => @base;
    public Tensor StftReal => @base.StftReal;
    public Tensor StftImag => @base.StftImag;
    public Tensor MelW => @base.MelW;

    /// <summary>projected_normalized [B, d_proj] from a log-mel [B, 1, T, mel_bins] (or [B, T, mel_bins]).</summary>
    public override Tensor forward(Tensor logmel)
    {
        using var o = Encode(logmel);
        return o.ProjectedNormalized.alias();
    }

    /// <summary>
    /// Runs the encoder on a log-mel [B, 1, T, mel_bins]. <paramref name="debug"/>, when given, receives bn0_out,
    /// conv_block1_out, inner_layer and pooled (caller disposes them).
    /// </summary>
    public ClapAudioEncoderOutput Encode(Tensor logmel, IDictionary<string, Tensor>? debug = null)
    {
        using var scope = torch.NewDisposeScope();
        var (embedding, clipwise) = @base.Run(logmel, debug);
        var projected = projection.forward(embedding);
        // F.normalize's eps: a silent or degenerate clip whose projection is exactly 0 stays 0 instead of NaN.
        var normalized = Config.L2Normalize ? projected / projected.norm(-1, keepdim: true).clamp_min(1e-12) : projected.alias();
        return new ClapAudioEncoderOutput(
            normalized.MoveToOuterDisposeScope(), projected.MoveToOuterDisposeScope(),
            embedding.MoveToOuterDisposeScope(), clipwise.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Loads audio-branch weights in this module's naming (see <see cref="CheckpointConverter.SelectAudioWeights"/>). Every key must match
    /// except the front-end tensors (<see cref="FrontEndNames"/>), which may be absent; when present, all three must be.
    /// Throws <see cref="SonicException"/> naming <paramref name="source"/> otherwise.
    /// </summary>
    public LoadReport LoadWeights(IReadOnlyDictionary<string, Tensor> weights, string source)
    {
        int frontEnd = FrontEndNames.Count(weights.ContainsKey);
        if (frontEnd is not 0 && frontEnd != FrontEndNames.Count)
            throw new SonicException($"{source}: checkpoint has only some of the CLAP front-end tensors ({string.Join(", ", FrontEndNames.Where(n => !weights.ContainsKey(n)))} missing)");
        foreach (var name in FrontEndNames)
            if (weights.TryGetValue(name, out var t) && !t.isfinite().all().item<bool>())
                throw new SonicException($"{source}: front-end tensor '{name}' holds NaN or infinite values");
        var all = new Dictionary<string, Tensor>(weights, StringComparer.Ordinal);
        if (frontEnd == 0)
        {
            all[StftRealName] = StftReal;
            all[StftImagName] = StftImag;
            all[MelWName] = MelW;
        }
        var report = WeightLoader.Load(this, all, source);
        FrontEndLoaded |= frontEnd != 0;
        return report;
    }
}
