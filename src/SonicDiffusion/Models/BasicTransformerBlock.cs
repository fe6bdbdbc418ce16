using SonicDiffusion.Core;
using SonicDiffusion.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// Pre-LN transformer block of SD v1: self-attention (<c>attn1</c>), text cross-attention (<c>attn2</c>), then the
/// optional <see cref="Extension"/> (gated audio cross-attention seam), then the GEGLU feed-forward (<c>ff</c>).
/// LayerNorms have eps 1e-5.
/// </summary>
public sealed class BasicTransformerBlock : nn.Module
{
    public readonly LayerNorm norm1;
    public readonly Attention attn1;
    public readonly LayerNorm norm2;
    public readonly Attention attn2;
    public readonly LayerNorm norm3;
    public readonly FeedForward ff;

    public long Dim { get; }
    public int Heads { get; }
    public int HeadDim { get; }
    public long CrossAttentionDim { get; }

    /// <summary>The step run between attn2 and the feed-forward; null = none.</summary>
    public ITransformerBlockExtension? Extension { get; private set; }

    public BasicTransformerBlock(long dim, int heads, int headDim, long crossAttentionDim) : base(nameof(BasicTransformerBlock))
    {
        Dim = dim;
        Heads = heads;
        HeadDim = headDim;
        CrossAttentionDim = crossAttentionDim;
        norm1 = nn.LayerNorm(dim, UNet2DConditionConfig.LayerNormEps);
        attn1 = new Attention(dim, null, heads, headDim);
        norm2 = nn.LayerNorm(dim, UNet2DConditionConfig.LayerNormEps);
        attn2 = new Attention(dim, crossAttentionDim, heads, headDim);
        norm3 = nn.LayerNorm(dim, UNet2DConditionConfig.LayerNormEps);
        ff = new FeedForward(dim);
        RegisterComponents();
    }

    /// <summary>Installs <paramref name="extension"/> and lets it register its parameters on this block (once per block).</summary>
    public void SetExtension(ITransformerBlockExtension extension)
    {
        if (Extension != null) throw new InvalidOperationException("this transformer block already has an extension");
        extension.Attach(this);
        Extension = extension;
    }

    /// <summary>Registers a child module under <paramref name="name"/> (parameter names become <c>name.*</c>).</summary>
    public void AddChild(string name, nn.Module module)
    {
        if (named_children().Any(c => c.name == name)) throw new SonicException($"transformer block: a child named '{name}' already exists");
        register_module(name, module);
    }

    /// <summary>Registers a parameter directly on the block under <paramref name="name"/>.</summary>
    public void AddParameter(string name, Parameter parameter)
    {
        if (named_parameters(recurse: false).Any(p => p.name == name)) throw new SonicException($"transformer block: a parameter named '{name}' already exists");
        register_parameter(name, parameter);
    }

    /// <param name="hiddenStates">[B, N, Dim] token sequence.</param>
    /// <param name="encoderHiddenStates">Text context [B, M, CrossAttentionDim].</param>
    public Tensor forward(Tensor hiddenStates, Tensor encoderHiddenStates, UNetCallContext? context = null)
    {
        using var scope = torch.NewDisposeScope();
        var h = hiddenStates;
        using (SectionProfiler.Measure("self-attention"))
            h = attn1.forward(norm1.forward(h), null, context).add_(h);
        using (SectionProfiler.Measure("text cross-attention"))
            h = attn2.forward(norm2.forward(h), encoderHiddenStates, context).add_(h);
        if (Extension != null)
            using (SectionProfiler.Measure("audio cross-attention"))
                h = Extension.Forward(this, h, encoderHiddenStates, context);
        using (SectionProfiler.Measure("feed-forward"))
            h = ff.forward(norm3.forward(h)).add_(h);
        return h.MoveToOuterDisposeScope();
    }
}
