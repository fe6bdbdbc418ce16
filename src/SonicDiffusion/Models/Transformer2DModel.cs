using SonicDiffusion.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// diffusers <c>Transformer2DModel</c> (CompVis <c>SpatialTransformer</c>): GroupNorm (eps 1e-6), <c>proj_in</c>
/// (1×1 conv in SD v1, Linear when <c>use_linear_projection</c>), the transformer blocks on [B, H·W, C] tokens,
/// <c>proj_out</c>, plus the input as residual.
/// </summary>
public sealed class Transformer2DModel : nn.Module
{
    public readonly GroupNorm norm;
    public readonly nn.Module<Tensor, Tensor> proj_in;
    public readonly ModuleList<BasicTransformerBlock> transformer_blocks;
    public readonly nn.Module<Tensor, Tensor> proj_out;

    public bool UseLinearProjection { get; }
    public long InnerDim { get; }

    public Transformer2DModel(long channels, int heads, int headDim, long crossAttentionDim, int numLayers, int normGroups, bool useLinearProjection)
        : base(nameof(Transformer2DModel))
    {
        UseLinearProjection = useLinearProjection;
        InnerDim = (long)heads * headDim;
        norm = GroupNorms.Create(normGroups, channels, UNet2DConditionConfig.TransformerNormEps);
        proj_in = useLinearProjection ? nn.Linear(channels, InnerDim) : nn.Conv2d(channels, InnerDim, 1);
        transformer_blocks = new ModuleList<BasicTransformerBlock>(
            Enumerable.Range(0, numLayers).Select(_ => new BasicTransformerBlock(InnerDim, heads, headDim, crossAttentionDim)).ToArray());
        proj_out = useLinearProjection ? nn.Linear(InnerDim, channels) : nn.Conv2d(InnerDim, channels, 1);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor encoderHiddenStates, UNetCallContext? context = null)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], h = x.shape[2], w = x.shape[3];
        var section = SectionProfiler.Measure("transformer norm + proj");
        var t = norm.forward(x);
        if (UseLinearProjection)
        {
            t = ToTokens(t);
            t = proj_in.call(t);
        }
        else
        {
            t = proj_in.call(t);
            t = ToTokens(t);
        }
        section.Dispose();
        foreach (var block in transformer_blocks) t = block.forward(t, encoderHiddenStates, context);
        section = SectionProfiler.Measure("transformer norm + proj");
        if (UseLinearProjection)
        {
            t = proj_out.call(t);
            t = ToImage(t, b, h, w);
        }
        else
        {
            t = ToImage(t, b, h, w);
            t = proj_out.call(t);
        }
        t = t.add_(x);
        section.Dispose();
        return t.MoveToOuterDisposeScope();
    }

    private static Tensor ToTokens(Tensor t) => t.permute(0, 2, 3, 1).reshape(t.shape[0], t.shape[2] * t.shape[3], t.shape[1]);

    private static Tensor ToImage(Tensor t, long b, long h, long w) => t.reshape(b, h, w, t.shape[2]).permute(0, 3, 1, 2).contiguous();
}
