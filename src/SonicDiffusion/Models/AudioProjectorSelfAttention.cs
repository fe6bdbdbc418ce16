using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// Official <c>MyCrossAttention</c>: despite its name, multi-head SELF-attention over the audio tokens with bias-free
/// q/k/v projections, no output projection, no norm and no residual. Output width = heads × dim_head.
/// </summary>
public sealed class AudioProjectorSelfAttention : nn.Module<Tensor, Tensor>
{
    private readonly Linear to_q_adapter;
    private readonly Linear to_k_adapter;
    private readonly Linear to_v_adapter;
    private readonly int _heads;

    public AudioProjectorSelfAttention(long contextDim, int heads, int dimHead) : base(nameof(AudioProjectorSelfAttention))
    {
        _heads = heads;
        to_q_adapter = nn.Linear(contextDim, heads * dimHead, hasBias: false);
        to_k_adapter = nn.Linear(contextDim, heads * dimHead, hasBias: false);
        to_v_adapter = nn.Linear(contextDim, heads * dimHead, hasBias: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], n = x.shape[1];
        // 'b n (h d) -> b h n d': channel c = head * dim_head + d
        Tensor Split(Linear proj) => proj.forward(x).view(b, n, _heads, -1).transpose(1, 2);
        var o = nn.functional.scaled_dot_product_attention(Split(to_q_adapter), Split(to_k_adapter), Split(to_v_adapter), is_casual: false);
        return o.transpose(1, 2).reshape(b, n, -1).MoveToOuterDisposeScope();
    }
}
