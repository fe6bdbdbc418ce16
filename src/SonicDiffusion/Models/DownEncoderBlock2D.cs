using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>VAE encoder level (diffusers <c>DownEncoderBlock2D</c>): resnets, then an optional asymmetric-padding downsampler.</summary>
public sealed class DownEncoderBlock2D : nn.Module<Tensor, Tensor>
{
    public readonly ModuleList<ResnetBlock2D> resnets;
    public readonly ModuleList<Downsample2D> downsamplers;

    public DownEncoderBlock2D(long inChannels, long outChannels, int numLayers, int groups, bool addDownsample) : base(nameof(DownEncoderBlock2D))
    {
        resnets = new ModuleList<ResnetBlock2D>(Enumerable.Range(0, numLayers)
            .Select(j => new ResnetBlock2D(j == 0 ? inChannels : outChannels, outChannels, null, groups, AutoencoderKLConfig.NormEps)).ToArray());
        downsamplers = addDownsample ? new ModuleList<Downsample2D>(new Downsample2D(outChannels, padding: 0)) : new ModuleList<Downsample2D>();
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = x;
        foreach (var r in resnets) h = InferenceOps.Consume(h, x, t => r.forward(t));
        if (downsamplers.Count > 0) h = InferenceOps.Consume(h, x, downsamplers[0].forward);
        return h.MoveToOuterDisposeScope();
    }
}
