using SonicDiffusion.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// The SD v1 KL autoencoder (diffusers <c>AutoencoderKL</c> names: <c>encoder</c>, <c>decoder</c>, <c>quant_conv</c>,
/// <c>post_quant_conv</c>). Images are [B, 3, H, W] in [−1, 1]; latents are [B, 4, H/8, W/8].
/// <para>
/// Scaling: <see cref="Encode"/> and <see cref="Decode"/> work on UNSCALED latents (CompVis <c>encode</c>/<c>decode</c>).
/// The diffusion model sees scaled latents = unscaled · <see cref="AutoencoderKLConfig.ScalingFactor"/> (0.18215):
/// <see cref="EncodeToLatents"/> returns posterior mean · scaling, <see cref="DecodeLatents"/> divides by it first.
/// </para>
/// </summary>
public sealed class AutoencoderKL : nn.Module
{
    public readonly Encoder encoder;
    public readonly Decoder decoder;
    public readonly Conv2d quant_conv;
    public readonly Conv2d post_quant_conv;

    public AutoencoderKLConfig Config { get; }

    public AutoencoderKL(AutoencoderKLConfig config) : base(nameof(AutoencoderKL))
    {
        config.Validate();
        Config = config;
        encoder = new Encoder(config);
        decoder = new Decoder(config);
        quant_conv = nn.Conv2d(2L * config.LatentChannels, 2L * config.LatentChannels, 1);
        post_quant_conv = nn.Conv2d(config.LatentChannels, config.LatentChannels, 1);
        RegisterComponents();
        CpuKernels.GuardConvolutions(this);
    }

    /// <summary>
    /// Image → posterior over unscaled latents. <paramref name="debug"/>, when given, receives detached copies of
    /// <c>encoder_out</c>, <c>moments</c> and <c>posterior_std</c> (the caller disposes them).
    /// </summary>
    public DiagonalGaussianDistribution Encode(Tensor image, IDictionary<string, Tensor>? debug = null)
    {
        using var scope = torch.NewDisposeScope();
        var h = encoder.forward(image);
        Capture(debug, "encoder_out", h);
        var moments = quant_conv.call(h);
        Capture(debug, "moments", moments);
        var posterior = new DiagonalGaussianDistribution(moments);
        posterior.Mean.MoveToOuterDisposeScope();
        posterior.LogVar.MoveToOuterDisposeScope();
        posterior.Std.MoveToOuterDisposeScope();
        Capture(debug, "posterior_std", posterior.Std);
        return posterior;
    }

    /// <summary>Unscaled latents z → image. <paramref name="debug"/> receives <c>post_quant_out</c>.</summary>
    public Tensor Decode(Tensor z, IDictionary<string, Tensor>? debug = null)
    {
        using var scope = torch.NewDisposeScope();
        var h = post_quant_conv.call(z);
        Capture(debug, "post_quant_out", h);
        return decoder.forward(h).MoveToOuterDisposeScope();
    }

    /// <summary>Image → scaled latents for the diffusion model: posterior mean · scaling_factor (what SD/PnP use).</summary>
    public Tensor EncodeToLatents(Tensor image)
    {
        using var posterior = Encode(image);
        return posterior.Mean * Config.ScalingFactor;
    }

    /// <summary>Scaled latents from the diffusion model → image: decode(latents / scaling_factor).</summary>
    public Tensor DecodeLatents(Tensor latents)
    {
        using var z = latents / Config.ScalingFactor;
        return Decode(z);
    }

    private static void Capture(IDictionary<string, Tensor>? debug, string name, Tensor t)
    {
        if (debug == null) return;
        if (debug.Remove(name, out var old)) old.Dispose();
        debug[name] = t.detach().clone().DetachFromDisposeScope();
    }
}
