using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>
/// The VAE mid-block self-attention (diffusers <c>Attention</c> with a group norm and residual; CompVis
/// <c>AttnBlock</c>): single head over H·W tokens, scale C^−1/2, q/k/v/out Linear layers with bias.
/// </summary>
public sealed class VaeMidAttention : nn.Module<Tensor, Tensor>
{
    public readonly GroupNorm group_norm;
    public readonly Linear to_q;
    public readonly Linear to_k;
    public readonly Linear to_v;
    public readonly ModuleList<nn.Module<Tensor, Tensor>> to_out;

    public VaeMidAttention(long channels, int groups) : base(nameof(VaeMidAttention))
    {
        group_norm = GroupNorms.Create(groups, channels, AutoencoderKLConfig.NormEps);
        to_q = nn.Linear(channels, channels);
        to_k = nn.Linear(channels, channels);
        to_v = nn.Linear(channels, channels);
        to_out = new ModuleList<nn.Module<Tensor, Tensor>>(nn.Linear(channels, channels), nn.Dropout(0.0));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var tokens = group_norm.forward(x).view(b, c, h * w).transpose(1, 2);
        var q = to_q.forward(tokens).unsqueeze(1);
        var k = to_k.forward(tokens).unsqueeze(1);
        var v = to_v.forward(tokens).unsqueeze(1);
        var o = F.scaled_dot_product_attention(q, k, v, is_casual: false).squeeze(1);
        o = to_out[0].forward(o);
        var image = o.transpose(1, 2).reshape(b, c, h, w);
        return image.add_(x).MoveToOuterDisposeScope();
    }
}
