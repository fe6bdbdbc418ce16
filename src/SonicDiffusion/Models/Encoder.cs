using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>VAE encoder: conv_in, down levels, mid block, GroupNorm, SiLU, conv_out to 2·latent channels (mean ‖ logvar).</summary>
public sealed class Encoder : nn.Module<Tensor, Tensor>
{
    public readonly Conv2d conv_in;
    public readonly ModuleList<DownEncoderBlock2D> down_blocks;
    public readonly UNetMidBlock2D mid_block;
    public readonly GroupNorm conv_norm_out;
    public readonly Conv2d conv_out;

    public Encoder(AutoencoderKLConfig cfg) : base(nameof(Encoder))
    {
        var boc = cfg.BlockOutChannels;
        int n = cfg.NumLevels;
        conv_in = nn.Conv2d(cfg.InChannels, boc[0], 3, padding: 1);
        down_blocks = new ModuleList<DownEncoderBlock2D>(Enumerable.Range(0, n)
            .Select(i => new DownEncoderBlock2D(i == 0 ? boc[0] : boc[i - 1], boc[i], cfg.LayersPerBlock, cfg.NormNumGroups, addDownsample: i < n - 1)).ToArray());
        mid_block = new UNetMidBlock2D(boc[^1], cfg.NormNumGroups);
        conv_norm_out = GroupNorms.Create(cfg.NormNumGroups, boc[^1], AutoencoderKLConfig.NormEps);
        conv_out = nn.Conv2d(boc[^1], 2L * cfg.LatentChannels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = conv_in.call(x);
        foreach (var block in down_blocks) h = InferenceOps.Consume(h, x, block.forward);
        h = InferenceOps.Consume(h, x, mid_block.forward);
        h = InferenceOps.Consume(h, x, t => InferenceOps.SiluOwned(conv_norm_out.forward(t)));
        return InferenceOps.Consume(h, x, conv_out.call).MoveToOuterDisposeScope();
    }
}
