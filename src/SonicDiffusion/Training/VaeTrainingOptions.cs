using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Models;

namespace SonicDiffusion.Training;

/// <summary>
/// What <see cref="VaeTrainingTask"/> trains and how (saved as the task config of the run, compared on resume).
/// Loss = reconstruction (L1 or L2, mean over pixels) + <see cref="EdgeWeight"/>·L1 of horizontal and vertical pixel
/// differences (a cheap stand-in for LDM's LPIPS term; there is no adversarial term either) +
/// <see cref="KlWeight"/>·KL/(3·H·W), KL summed over the latent of each image: with the default 1e-6 this is the ratio of
/// LDM's kl-f8 config, whose reconstruction loss is summed over pixels.
/// </summary>
public sealed record VaeTrainingOptions
{
    /// <summary>f = 8 (four levels), 4 latent channels, one resnet per encoder level: 1.25 M parameters (2.5 MB as float16).</summary>
    public static AutoencoderKLConfig DefaultModel => new()
    {
        BlockOutChannels = [32, 64, 64, 64],
        LayersPerBlock = 1,
        NormNumGroups = 16,
        LatentChannels = 4,
        SampleSize = 128,
    };

    public AutoencoderKLConfig Model { get; init; } = DefaultModel;
    /// <summary>Cached image size R (resize shorter side + centre crop).</summary>
    public int Resolution { get; init; } = 128;
    /// <summary>Training crop (random position in the R×R image; the model is fully convolutional). R = no crop.</summary>
    public int CropSize { get; init; } = 64;
    /// <summary><c>l1</c> or <c>l2</c>.</summary>
    public string ReconstructionLoss { get; init; } = "l1";
    public double KlWeight { get; init; } = 1e-6;
    public double EdgeWeight { get; init; } = 0.5;
    public double FlipProbability { get; init; } = 0.5;
    /// <summary>
    /// Initial bias of the posterior's log-variance channels (quant_conv). At 0 the sampled latent is mostly noise (std 1
    /// around small means) and, the KL weight being tiny, Adam needs thousands of steps to shrink it; −6 (std 0.05)
    /// starts near a deterministic autoencoder, where a trained kl-f8 VAE ends up anyway. null = PyTorch's default init.
    /// </summary>
    public double? InitialLogVar { get; init; } = -6;

    public VaeTrainingOptions Validate()
    {
        Model.Validate("VAE model config");
        if (Resolution <= 0 || Resolution % 8 != 0) throw new SonicException($"VAE training: resolution {Resolution} must be a positive multiple of 8");
        int f = 1 << (Model.NumLevels - 1);
        if (CropSize <= 0 || CropSize > Resolution || CropSize % f != 0)
            throw new SonicException($"VAE training: crop size {CropSize} must be in (0, {Resolution}] and a multiple of the VAE factor {f}");
        if (ReconstructionLoss is not ("l1" or "l2")) throw new SonicException($"VAE training: reconstruction loss '{ReconstructionLoss}' must be l1 or l2");
        if (KlWeight < 0 || EdgeWeight < 0) throw new SonicException("VAE training: loss weights must be >= 0");
        if (FlipProbability is < 0 or > 1) throw new SonicException($"VAE training: flip probability {FlipProbability} must be in [0, 1]");
        return this;
    }

    public JsonObject ToJson() => JsonSerializer.SerializeToNode(this, ConfigJson.Options)!.AsObject();
}
