using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// The default processor: q/k/v projections, scaled-dot-product attention over heads, output projection. Cross-attention
/// keys and values come from <see cref="UNetCallContext.CrossAttentionCache"/> when the call has one.
/// </summary>
public class AttnProcessor : IAttentionProcessor
{
    public static AttnProcessor Default { get; } = new();

    public virtual Tensor Process(Attention attn, Tensor hiddenStates, Tensor? encoderHiddenStates, UNetCallContext? context)
    {
        var source = encoderHiddenStates ?? hiddenStates;
        var q = attn.to_q.forward(hiddenStates);
        Tensor k, v;
        if (encoderHiddenStates is not null && context?.CrossAttentionCache is { } cache)
            (k, v) = cache.KeysValues(attn, encoderHiddenStates);
        else
        {
            k = attn.to_k.forward(source);
            v = attn.to_v.forward(source);
        }
        (q, k, v) = Transform(attn, q, k, v, encoderHiddenStates is null, context);
        return attn.AttendAndProject(q, k, v);
    }

    /// <summary>
    /// Hook for subclasses: edit or replace the projected q [B, N, inner], k and v [B, M, inner] (heads not yet
    /// split) before attention. The default returns them unchanged.
    /// </summary>
    protected virtual (Tensor Q, Tensor K, Tensor V) Transform(Attention attn, Tensor q, Tensor k, Tensor v, bool isSelfAttention, UNetCallContext? context)
        => (q, k, v);
}
