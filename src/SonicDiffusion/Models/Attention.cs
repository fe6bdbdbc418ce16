using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>
/// diffusers <c>Attention</c> as used by SD v1 transformer blocks: <c>to_q</c>, <c>to_k</c>, <c>to_v</c> (no bias by
/// default), <c>to_out.0</c> (with bias; <c>to_out.1</c> is dropout). The computation is delegated to
/// <see cref="Processor"/> (default <see cref="AttnProcessor"/>), which may be replaced per module.
/// </summary>
public sealed class Attention : nn.Module
{
    public readonly Linear to_q;
    public readonly Linear to_k;
    public readonly Linear to_v;
    public readonly ModuleList<nn.Module<Tensor, Tensor>> to_out;

    public int Heads { get; }
    public int HeadDim { get; }
    public long QueryDim { get; }
    /// <summary>Width of the key/value source (the query width for self-attention).</summary>
    public long KeyValueDim { get; }

    /// <summary>The attention processor; never null (setting null restores the default).</summary>
    public IAttentionProcessor Processor
    {
        get => _processor;
        set => _processor = value ?? AttnProcessor.Default;
    }
    private IAttentionProcessor _processor = AttnProcessor.Default;

    /// <param name="crossAttentionDim">Width of the key/value source; null = self-attention (query width).</param>
    public Attention(long queryDim, long? crossAttentionDim, int heads, int headDim, bool qkvBias = false, bool outBias = true) : base(nameof(Attention))
    {
        Heads = heads;
        HeadDim = headDim;
        QueryDim = queryDim;
        KeyValueDim = crossAttentionDim ?? queryDim;
        long inner = (long)heads * headDim;
        to_q = nn.Linear(queryDim, inner, hasBias: qkvBias);
        to_k = nn.Linear(KeyValueDim, inner, hasBias: qkvBias);
        to_v = nn.Linear(KeyValueDim, inner, hasBias: qkvBias);
        to_out = new ModuleList<nn.Module<Tensor, Tensor>>(nn.Linear(inner, queryDim, hasBias: outBias), nn.Dropout(0.0));
        RegisterComponents();
    }

    /// <param name="encoderHiddenStates">Key/value source [B, M, KeyValueDim]; null = self-attention.</param>
    public Tensor forward(Tensor hiddenStates, Tensor? encoderHiddenStates = null, UNetCallContext? context = null)
        => _processor.Process(this, hiddenStates, encoderHiddenStates, context);

    /// <summary>[B, N, heads·d] → [B, heads, N, d] (channel = head·d + i, head-major).</summary>
    public Tensor SplitHeads(Tensor x) => x.reshape(x.shape[0], x.shape[1], Heads, HeadDim).transpose(1, 2);

    /// <summary>
    /// softmax(q·kᵀ/√d)·v per head with SDPA, heads merged, then <c>to_out.0</c>.
    /// q: [B, N, inner]; k, v: [B, M, inner]. Returns [B, N, QueryDim].
    /// </summary>
    public Tensor AttendAndProject(Tensor q, Tensor k, Tensor v)
    {
        using var qh = SplitHeads(q);
        using var kh = SplitHeads(k);
        using var vh = SplitHeads(v);
        using var o = F.scaled_dot_product_attention(qh, kh, vh, is_casual: false);
        using var merged = o.transpose(1, 2).reshape(q.shape[0], q.shape[1], (long)Heads * HeadDim);
        return to_out[0].forward(merged);
    }
}
