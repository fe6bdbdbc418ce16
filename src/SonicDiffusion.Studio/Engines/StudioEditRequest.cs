using SonicDiffusion.Imaging;

namespace SonicDiffusion.Studio.Engines;

/// <summary>
/// One edit: the source image's bytes (already checked by the server: a readable image of accepted size), the shared
/// parameters (<see cref="StudioGenerateRequest.Audio"/> is used only when <see cref="UseSound"/>) and the PnP
/// injection fractions. Edits always sample with DDIM.
/// </summary>
public sealed record StudioEditRequest
{
    public required byte[] Image { get; init; }
    public required StudioGenerateRequest Generation { get; init; }
    /// <summary>False: a text-only PnP edit (prompt only), e.g. on a plain Stable Diffusion model.</summary>
    public bool UseSound { get; init; } = true;
    /// <summary>Fraction of the steps with residual-feature injection (official demo 0.8).</summary>
    public double FeatureInjection { get; init; } = 0.8;
    /// <summary>Fraction of the steps with self-attention q/k injection (official demo 0.8).</summary>
    public double AttnInjection { get; init; } = 0.8;
    public ImageFit Fit { get; init; } = ImageFit.Resize;
    /// <summary>Decoder resnets for feature injection; null = the official sites.</summary>
    public IReadOnlyList<string>? FeatureSites { get; init; }
}
