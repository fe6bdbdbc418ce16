using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Text;

/// <summary>HF <c>CLIPAttention</c>: q/k/v/out projections with bias, scale head_dim^-0.5; causal in the text tower, full in the vision tower.</summary>
public sealed class ClipAttention : nn.Module<Tensor, Tensor>
{
    private readonly Linear q_proj, k_proj, v_proj, out_proj;
    private readonly int _heads;
    private readonly bool _causal;

    public ClipAttention(ClipTextConfig config, bool causal = true) : base(nameof(ClipAttention))
    {
        _causal = causal;
        _heads = config.NumAttentionHeads;
        q_proj = nn.Linear(config.HiddenSize, config.HiddenSize);
        k_proj = nn.Linear(config.HiddenSize, config.HiddenSize);
        v_proj = nn.Linear(config.HiddenSize, config.HiddenSize);
        out_proj = nn.Linear(config.HiddenSize, config.HiddenSize);
        RegisterComponents();
    }

    /// <summary>[B, T, C] → [B, T, C]; when causal, token t attends to tokens 0..t.</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], t = x.shape[1], c = x.shape[2];
        Tensor Heads(Linear proj) => proj.forward(x).view(b, t, _heads, c / _heads).transpose(1, 2);
        var o = F.scaled_dot_product_attention(Heads(q_proj), Heads(k_proj), Heads(v_proj), is_casual: _causal);
        return out_proj.forward(o.transpose(1, 2).reshape(b, t, c)).MoveToOuterDisposeScope();
    }
}
