using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// The VAE posterior N(mean, exp(logvar)) from moments [B, 2·latent, h, w] (first half mean, second half logvar,
/// logvar clamped to [−30, 20]). Values are unscaled latents (before multiplying by the scaling factor).
/// Owns its tensors; dispose it.
/// </summary>
public sealed class DiagonalGaussianDistribution : IDisposable
{
    public Tensor Mean { get; }
    public Tensor LogVar { get; }
    /// <summary>exp(0.5·logvar).</summary>
    public Tensor Std { get; }

    public DiagonalGaussianDistribution(Tensor moments)
    {
        var parts = moments.chunk(2, 1);
        Mean = parts[0].contiguous();
        using (var lv = parts[1]) LogVar = lv.clamp(AutoencoderKLConfig.LogVarMin, AutoencoderKLConfig.LogVarMax);
        if (!ReferenceEquals(Mean, parts[0])) parts[0].Dispose();
        Std = (LogVar * 0.5).exp_();
    }

    /// <summary>The mode (= mean), as a new tensor.</summary>
    public Tensor Mode() => Mean.clone();

    /// <summary>mean + std·ε with ε ~ N(0, I) drawn from <paramref name="generator"/> (the global generator when null).</summary>
    public Tensor Sample(Generator? generator = null)
    {
        using var eps = torch.randn(Mean.shape, dtype: Mean.dtype, device: Mean.device, generator: generator);
        return Mean + Std * eps;
    }

    public void Dispose()
    {
        Mean.Dispose();
        LogVar.Dispose();
        Std.Dispose();
    }
}
