using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// SonicDiffusion's gated audio cross-attention (official <c>attention_custom.BasicTransformerBlock(use_adapter=True)</c>),
/// a <see cref="BasicTransformerBlock"/> extension run after the text cross-attention and before the feed-forward:
/// <c>h = (attn_adapter(norm_adapter(h), audio) · tanh(gate_adapter)) · β + h</c>.
/// <para>Parameters are registered on the block with the official names: <c>attn_adapter</c> (a diffusers
/// <see cref="Attention"/>, q from the block width, k/v from <see cref="ContextDim"/>, the block's heads, no qkv bias,
/// out bias), <c>norm_adapter</c> (LayerNorm, eps 1e-5) and <c>gate_adapter</c> γ (shape [1]).</para>
/// <para>Without audio tokens in the call context, or with β = 0, the step is skipped and the block is exactly the
/// plain SD block; γ = 0 adds an exact zero. β comes from <see cref="UNetCallContext.AudioScaleFor"/> for
/// <see cref="Site"/>.</para>
/// </summary>
public sealed class GatedAudioAttention : ITransformerBlockExtension
{
    public const string AttnName = "attn_adapter";
    public const string NormName = "norm_adapter";
    public const string GateName = "gate_adapter";

    /// <summary>The 8 tensor names one site holds, below its block path (the keys of the released gate dicts).</summary>
    public static IReadOnlyList<string> TensorNames { get; } =
    [
        "attn_adapter.to_q.weight", "attn_adapter.to_k.weight", "attn_adapter.to_v.weight",
        "attn_adapter.to_out.0.weight", "attn_adapter.to_out.0.bias",
        "norm_adapter.weight", "norm_adapter.bias", "gate_adapter",
    ];

    /// <summary>True when <paramref name="name"/> (a full UNet parameter name or a sub-name) belongs to an adapter.</summary>
    public static bool IsAdapterTensor(string name) =>
        name.Contains(AttnName + ".", StringComparison.Ordinal) || name.Contains(NormName + ".", StringComparison.Ordinal)
        || name == GateName || name.EndsWith("." + GateName, StringComparison.Ordinal);

    /// <summary>The transformer block path this adapter sits in ("" for a lone block).</summary>
    public string Site { get; }
    /// <summary>Width of the audio tokens read by k/v.</summary>
    public long ContextDim { get; }
    private readonly double _gateInit;

    public Attention? attn_adapter { get; private set; }
    public LayerNorm? norm_adapter { get; private set; }
    public Parameter? gate_adapter { get; private set; }

    public GatedAudioAttention(string site, long contextDim, double gateInit = 0.1)
    {
        if (contextDim <= 0) throw new ArgumentOutOfRangeException(nameof(contextDim), contextDim, "context width must be positive");
        Site = site;
        ContextDim = contextDim;
        _gateInit = gateInit;
    }

    public void Attach(BasicTransformerBlock block)
    {
        if (attn_adapter != null) throw new InvalidOperationException("this adapter is already attached to a block");
        var reference = block.norm1.weight!;
        var attn = new Attention(block.Dim, ContextDim, block.Heads, block.HeadDim);
        var norm = nn.LayerNorm(block.Dim, UNet2DConditionConfig.LayerNormEps);
        using (torch.no_grad())
        {
            norm.weight!.fill_(1.0);
            norm.bias!.zero_();
        }
        attn.to(reference.dtype).to(reference.device);
        norm.to(reference.dtype).to(reference.device);
        var gate = new Parameter(torch.full(new long[] { 1 }, _gateInit, dtype: reference.dtype, device: reference.device));
        block.AddChild(AttnName, attn);
        block.AddChild(NormName, norm);
        block.AddParameter(GateName, gate);
        attn_adapter = attn;
        norm_adapter = norm;
        gate_adapter = gate;
    }

    public Tensor Forward(BasicTransformerBlock block, Tensor hiddenStates, Tensor encoderHiddenStates, UNetCallContext? context)
    {
        if (context?.AudioContext is not { } audio || attn_adapter is null) return hiddenStates;
        double beta = context.AudioScaleFor(Site);
        if (beta == 0) return hiddenStates;
        if (audio.shape[0] != hiddenStates.shape[0])
            throw new ArgumentException($"audio context batch {audio.shape[0]} differs from the latent batch {hiddenStates.shape[0]} at adapter site '{Site}'");
        using var scope = torch.NewDisposeScope();
        var a = attn_adapter.forward(norm_adapter!.forward(hiddenStates), audio, context);
        var scale = beta == 1.0 ? gate_adapter!.tanh() : gate_adapter!.tanh() * beta;
        return torch.addcmul(hiddenStates, a, scale, 1).MoveToOuterDisposeScope();   // h + a·tanh(γ)·β in one pass
    }
}
