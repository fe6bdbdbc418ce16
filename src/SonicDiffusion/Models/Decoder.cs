using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>VAE decoder: conv_in from latent channels, mid block, up levels (reverse channel order), GroupNorm, SiLU, conv_out.</summary>
public sealed class Decoder : nn.Module<Tensor, Tensor>
{
    public readonly Conv2d conv_in;
    public readonly UNetMidBlock2D mid_block;
    public readonly ModuleList<UpDecoderBlock2D> up_blocks;
    public readonly GroupNorm conv_norm_out;
    public readonly Conv2d conv_out;

    public Decoder(AutoencoderKLConfig cfg) : base(nameof(Decoder))
    {
        var reversed = cfg.BlockOutChannels.Reverse().ToArray();
        int n = cfg.NumLevels;
        conv_in = nn.Conv2d(cfg.LatentChannels, reversed[0], 3, padding: 1);
        mid_block = new UNetMidBlock2D(reversed[0], cfg.NormNumGroups);
        up_blocks = new ModuleList<UpDecoderBlock2D>(Enumerable.Range(0, n)
            .Select(i => new UpDecoderBlock2D(i == 0 ? reversed[0] : reversed[i - 1], reversed[i], cfg.LayersPerBlock + 1, cfg.NormNumGroups, addUpsample: i < n - 1)).ToArray());
        conv_norm_out = GroupNorms.Create(cfg.NormNumGroups, reversed[^1], AutoencoderKLConfig.NormEps);
        conv_out = nn.Conv2d(reversed[^1], cfg.OutChannels, 3, padding: 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor z)
    {
        using var scope = torch.NewDisposeScope();
        var h = conv_in.call(z);
        h = InferenceOps.Consume(h, z, mid_block.forward);
        foreach (var block in up_blocks) h = InferenceOps.Consume(h, z, block.forward);
        h = InferenceOps.Consume(h, z, t => InferenceOps.SiluOwned(conv_norm_out.forward(t)));
        return InferenceOps.Consume(h, z, conv_out.call).MoveToOuterDisposeScope();
    }
}
