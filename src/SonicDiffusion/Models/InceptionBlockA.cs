using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>pytorch-fid's <c>FIDInceptionA</c> (Mixed_5b–5d): 1×1 | 1×1→5×5 | 1×1→3×3→3×3 | avg pool (padding not counted)→1×1.</summary>
public sealed class InceptionBlockA : nn.Module<Tensor, Tensor>
{
    private readonly InceptionConv branch1x1, branch5x5_1, branch5x5_2, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3, branch_pool;

    public InceptionBlockA(long inChannels, long poolFeatures, int d) : base(nameof(InceptionBlockA))
    {
        branch1x1 = new InceptionConv(inChannels, 64 / d, 1);
        branch5x5_1 = new InceptionConv(inChannels, 48 / d, 1);
        branch5x5_2 = new InceptionConv(48 / d, 64 / d, 5, padding: 2);
        branch3x3dbl_1 = new InceptionConv(inChannels, 64 / d, 1);
        branch3x3dbl_2 = new InceptionConv(64 / d, 96 / d, 3, padding: 1);
        branch3x3dbl_3 = new InceptionConv(96 / d, 96 / d, 3, padding: 1);
        branch_pool = new InceptionConv(inChannels, poolFeatures, 1);
        RegisterComponents();
    }

    public static long OutChannels(long poolFeatures, int d) => (64 + 64 + 96) / d + poolFeatures;

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var b1 = branch1x1.forward(x);
        var b5 = branch5x5_2.forward(branch5x5_1.forward(x));
        var b3 = branch3x3dbl_3.forward(branch3x3dbl_2.forward(branch3x3dbl_1.forward(x)));
        var bp = branch_pool.forward(F.avg_pool2d(x, 3, 1, 1, count_include_pad: false));
        return torch.cat(new[] { b1, b5, b3, bp }, 1).MoveToOuterDisposeScope();
    }
}
