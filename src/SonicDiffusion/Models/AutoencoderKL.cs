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

    /// <summary>
    /// <see cref="DecodeLatents"/> tile by tile, for less memory: overlapping latent tiles of
    /// <paramref name="tile"/>² (stride tile − <paramref name="overlap"/>) are decoded one at a time and blended with
    /// linear ramps across each overlap, so no seam shows where tiles meet. Each tile's mid-block attention sees only
    /// its tile, so the result differs slightly from the whole decode; latents that fit in one tile decode whole.
    /// </summary>
    public Tensor DecodeLatentsTiled(Tensor latents, int tile = 32, int overlap = 8)
    {
        if (tile < 2 || overlap < 0 || overlap >= tile)
            throw new ArgumentOutOfRangeException(nameof(overlap), $"VAE tiling needs tile ≥ 2 and 0 ≤ overlap < tile (got tile {tile}, overlap {overlap})");
        long h = latents.shape[2], w = latents.shape[3];
        if (h <= tile && w <= tile) return DecodeLatents(latents);
        int scale = 1 << (Config.BlockOutChannels.Length - 1);
        var rows = TileStarts(h, tile, overlap);
        var cols = TileStarts(w, tile, overlap);
        Tensor? output = null, weight = null;
        foreach (long top in rows)
            foreach (long left in cols)
            {
                using var scope = torch.NewDisposeScope();
                long th = Math.Min(tile, h - top), tw = Math.Min(tile, w - left);
                var part = DecodeLatents(latents.narrow(2, top, th).narrow(3, left, tw));
                if (output is null)
                {
                    output = torch.zeros(new[] { latents.shape[0], part.shape[1], h * scale, w * scale }, part.dtype, part.device).MoveToOuterDisposeScope();
                    weight = torch.zeros(new[] { 1L, 1, h * scale, w * scale }, part.dtype, part.device).MoveToOuterDisposeScope();
                }
                var ramp = Ramp(th * scale, top > 0, top + th < h, overlap * scale, part)
                    .unsqueeze(1).mul(Ramp(tw * scale, left > 0, left + tw < w, overlap * scale, part).unsqueeze(0));
                output.narrow(2, top * scale, th * scale).narrow(3, left * scale, tw * scale).add_(part.mul_(ramp));
                weight!.narrow(2, top * scale, th * scale).narrow(3, left * scale, tw * scale).add_(ramp);
            }
        using (weight) return output!.div_(weight!);
    }

    /// <summary>Tile starts covering <paramref name="size"/>: stride tile − overlap, the last tile flush with the edge.</summary>
    private static List<long> TileStarts(long size, int tile, int overlap)
    {
        var starts = new List<long>();
        if (size <= tile) return [0];
        for (long s = 0; ; s += tile - overlap)
        {
            if (s + tile >= size) { starts.Add(size - tile); break; }
            starts.Add(s);
        }
        return starts;
    }

    /// <summary>Blend weights along one side of a tile: rising over the overlap where a neighbour comes before, falling where one comes after.</summary>
    private static Tensor Ramp(long length, bool before, bool after, long overlap, Tensor like)
    {
        var r = torch.ones(length, like.dtype, like.device);
        if (overlap == 0) return r;
        using var rise = torch.arange(1, overlap + 1, like.dtype, like.device).div_(overlap + 1);
        if (before) r.narrow(0, 0, overlap).mul_(rise);
        if (after) r.narrow(0, length - overlap, overlap).mul_(rise.flip(0));
        return r;
    }

    private static void Capture(IDictionary<string, Tensor>? debug, string name, Tensor t)
    {
        if (debug == null) return;
        if (debug.Remove(name, out var old)) old.Dispose();
        debug[name] = t.detach().clone().DetachFromDisposeScope();
    }
}
