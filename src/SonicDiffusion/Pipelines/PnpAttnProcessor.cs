using SonicDiffusion.Models;
using static TorchSharp.torch;

namespace SonicDiffusion.Pipelines;

/// <summary>
/// PnP self-attention injection: while <paramref name="active"/> says so for the call, every batch item's q and k are
/// replaced by item 0's (the source branch); v and cross-attention are untouched.
/// </summary>
public sealed class PnpAttnProcessor(Func<UNetCallContext?, bool> active) : AttnProcessor
{
    protected override (Tensor Q, Tensor K, Tensor V) Transform(Attention attn, Tensor q, Tensor k, Tensor v, bool isSelfAttention, UNetCallContext? context)
    {
        if (!isSelfAttention || q.shape[0] < 2 || !active(context)) return (q, k, v);
        return (q.narrow(0, 0, 1).expand_as(q), k.narrow(0, 0, 1).expand_as(k), v);
    }
}
