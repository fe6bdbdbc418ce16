using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>diffusers <c>UNetMidBlock2D</c> as used by the VAE: resnet, single-head attention, resnet (no time embedding, eps 1e-6).</summary>
public sealed class UNetMidBlock2D : nn.Module<Tensor, Tensor>
{
    public readonly ModuleList<VaeMidAttention> attentions;
    public readonly ModuleList<ResnetBlock2D> resnets;

    public UNetMidBlock2D(long channels, int groups) : base(nameof(UNetMidBlock2D))
    {
        attentions = new ModuleList<VaeMidAttention>(new VaeMidAttention(channels, groups));
        resnets = new ModuleList<ResnetBlock2D>(
            new ResnetBlock2D(channels, channels, null, groups, AutoencoderKLConfig.NormEps),
            new ResnetBlock2D(channels, channels, null, groups, AutoencoderKLConfig.NormEps));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = resnets[0].forward(x);
        h = InferenceOps.Consume(h, x, attentions[0].forward);
        h = InferenceOps.Consume(h, x, t => resnets[1].forward(t));
        return h.MoveToOuterDisposeScope();
    }
}
