using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>VAE decoder level (diffusers <c>UpDecoderBlock2D</c>): resnets, then an optional nearest ×2 upsampler.</summary>
public sealed class UpDecoderBlock2D : nn.Module<Tensor, Tensor>
{
    public readonly ModuleList<ResnetBlock2D> resnets;
    public readonly ModuleList<Upsample2D> upsamplers;

    public UpDecoderBlock2D(long inChannels, long outChannels, int numLayers, int groups, bool addUpsample) : base(nameof(UpDecoderBlock2D))
    {
        resnets = new ModuleList<ResnetBlock2D>(Enumerable.Range(0, numLayers)
            .Select(j => new ResnetBlock2D(j == 0 ? inChannels : outChannels, outChannels, null, groups, AutoencoderKLConfig.NormEps)).ToArray());
        upsamplers = addUpsample ? new ModuleList<Upsample2D>(new Upsample2D(outChannels)) : new ModuleList<Upsample2D>();
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = x;
        foreach (var r in resnets) h = InferenceOps.Consume(h, x, t => r.forward(t));
        if (upsamplers.Count > 0) h = InferenceOps.Consume(h, x, t => upsamplers[0].forward(t));
        return h.MoveToOuterDisposeScope();
    }
}
