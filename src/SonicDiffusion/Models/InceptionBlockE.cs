using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>
/// pytorch-fid's <c>FIDInceptionE_1</c> (Mixed_7b: avg pool, padding not counted) and <c>FIDInceptionE_2</c>
/// (Mixed_7c: max pool in the pool branch, the TF graph's quirk): 1×1 | 1×1→(1×3, 3×1) | 1×1→3×3→(1×3, 3×1) | pool→1×1.
/// </summary>
public sealed class InceptionBlockE : nn.Module<Tensor, Tensor>
{
    private readonly InceptionConv branch1x1, branch3x3_1, branch3x3_2a, branch3x3_2b,
        branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3a, branch3x3dbl_3b, branch_pool;
    private readonly bool _maxPool;

    public InceptionBlockE(long inChannels, bool maxPool, int d) : base(nameof(InceptionBlockE))
    {
        _maxPool = maxPool;
        branch1x1 = new InceptionConv(inChannels, 320 / d, 1);
        branch3x3_1 = new InceptionConv(inChannels, 384 / d, 1);
        branch3x3_2a = new InceptionConv(384 / d, 384 / d, (1, 3), padding: (0, 1));
        branch3x3_2b = new InceptionConv(384 / d, 384 / d, (3, 1), padding: (1, 0));
        branch3x3dbl_1 = new InceptionConv(inChannels, 448 / d, 1);
        branch3x3dbl_2 = new InceptionConv(448 / d, 384 / d, 3, padding: 1);
        branch3x3dbl_3a = new InceptionConv(384 / d, 384 / d, (1, 3), padding: (0, 1));
        branch3x3dbl_3b = new InceptionConv(384 / d, 384 / d, (3, 1), padding: (1, 0));
        branch_pool = new InceptionConv(inChannels, 192 / d, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var b1 = branch1x1.forward(x);
        var b3 = branch3x3_1.forward(x);
        b3 = torch.cat(new[] { branch3x3_2a.forward(b3), branch3x3_2b.forward(b3) }, 1);
        var bd = branch3x3dbl_2.forward(branch3x3dbl_1.forward(x));
        bd = torch.cat(new[] { branch3x3dbl_3a.forward(bd), branch3x3dbl_3b.forward(bd) }, 1);
        var pooled = _maxPool ? F.max_pool2d(x, 3, 1, 1) : F.avg_pool2d(x, 3, 1, 1, count_include_pad: false);
        var bp = branch_pool.forward(pooled);
        return torch.cat(new[] { b1, b3, bd, bp }, 1).MoveToOuterDisposeScope();
    }
}
