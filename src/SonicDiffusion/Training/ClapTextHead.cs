using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// The text side of CLAP-style training on top of a frozen text encoder: an optional learned linear map (no bias) from
/// the pooled caption embedding to the audio embedding width, L2 normalisation, and the learnable log-scale of the
/// logits (logit_scale = log(1/τ), used as exp(logit_scale) clamped to at most 100, as CLIP).
/// </summary>
public sealed class ClapTextHead : nn.Module<Tensor, Tensor>
{
    public const double MaxScale = 100.0;

    private readonly Linear? projection;
    public readonly Parameter logit_scale;

    public ClapTextHead(long textWidth, long embedWidth, double temperature, bool learnTemperature) : base(nameof(ClapTextHead))
    {
        if (textWidth != embedWidth) projection = nn.Linear(textWidth, embedWidth, hasBias: false);
        logit_scale = new Parameter(torch.tensor(Math.Log(1.0 / temperature), dtype: ScalarType.Float32), requires_grad: learnTemperature);
        RegisterComponents();
    }

    /// <summary>Pooled caption embeddings [B, text width] → unit vectors [B, embed width].</summary>
    public override Tensor forward(Tensor pooled)
    {
        using var scope = torch.NewDisposeScope();
        var x = projection is null ? pooled : projection.forward(pooled);
        return (x / x.norm(-1, keepdim: true).clamp_min(1e-12)).MoveToOuterDisposeScope();
    }

    /// <summary>exp(logit_scale), clamped to <see cref="MaxScale"/>.</summary>
    public Tensor Scale() => logit_scale.exp().clamp_max(MaxScale);
}
