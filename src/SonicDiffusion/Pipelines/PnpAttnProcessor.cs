using SonicDiffusion.Models;
using static TorchSharp.torch;

namespace SonicDiffusion.Pipelines;

/// <summary>
/// PnP self-attention injection: while <paramref name="active"/> says so for the call, every batch item's q and k are
/// replaced by item 0's (the source branch), recorded into <paramref name="features"/> when given — or, in a call marked
/// <see cref="PnpInjection.ReplayKey"/> (no source item in the batch), by the source's q and k recorded there earlier;
/// v and cross-attention are untouched.
/// </summary>
public sealed class PnpAttnProcessor(Func<UNetCallContext?, bool> active, PnpSourceFeatures? features = null) : AttnProcessor
{
    protected override (Tensor Q, Tensor K, Tensor V) Transform(Attention attn, Tensor q, Tensor k, Tensor v, bool isSelfAttention, UNetCallContext? context)
    {
        if (!isSelfAttention || !active(context)) return (q, k, v);
        if (PnpInjection.Replaying(context))
        {
            var (sq, sk) = features!.QueryKey(PnpInjection.Step(context), attn);
            return (sq.expand_as(q), sk.expand_as(k), v);
        }
        if (q.shape[0] < 2) return (q, k, v);
        Tensor q0 = q.narrow(0, 0, 1), k0 = k.narrow(0, 0, 1);
        features?.Record(PnpInjection.Step(context), attn, q0, k0);
        return (q0.expand_as(q), k0.expand_as(k), v);
    }
}
