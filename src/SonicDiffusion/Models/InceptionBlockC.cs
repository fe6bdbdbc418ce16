using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>pytorch-fid's <c>FIDInceptionC</c> (Mixed_6b–6e): factorised 7×7 branches and an avg pool that does not count padding.</summary>
public sealed class InceptionBlockC : nn.Module<Tensor, Tensor>
{
    private readonly InceptionConv branch1x1, branch7x7_1, branch7x7_2, branch7x7_3,
        branch7x7dbl_1, branch7x7dbl_2, branch7x7dbl_3, branch7x7dbl_4, branch7x7dbl_5, branch_pool;

    public InceptionBlockC(long inChannels, long c7, int d) : base(nameof(InceptionBlockC))
    {
        branch1x1 = new InceptionConv(inChannels, 192 / d, 1);
        branch7x7_1 = new InceptionConv(inChannels, c7, 1);
        branch7x7_2 = new InceptionConv(c7, c7, (1, 7), padding: (0, 3));
        branch7x7_3 = new InceptionConv(c7, 192 / d, (7, 1), padding: (3, 0));
        branch7x7dbl_1 = new InceptionConv(inChannels, c7, 1);
        branch7x7dbl_2 = new InceptionConv(c7, c7, (7, 1), padding: (3, 0));
        branch7x7dbl_3 = new InceptionConv(c7, c7, (1, 7), padding: (0, 3));
        branch7x7dbl_4 = new InceptionConv(c7, c7, (7, 1), padding: (3, 0));
        branch7x7dbl_5 = new InceptionConv(c7, 192 / d, (1, 7), padding: (0, 3));
        branch_pool = new InceptionConv(inChannels, 192 / d, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var b1 = branch1x1.forward(x);
        var b7 = branch7x7_3.forward(branch7x7_2.forward(branch7x7_1.forward(x)));
        var bd = branch7x7dbl_1.forward(x);
        foreach (var m in new[] { branch7x7dbl_2, branch7x7dbl_3, branch7x7dbl_4, branch7x7dbl_5 }) bd = m.forward(bd);
        var bp = branch_pool.forward(F.avg_pool2d(x, 3, 1, 1, count_include_pad: false));
        return torch.cat(new[] { b1, b7, bd, bp }, 1).MoveToOuterDisposeScope();
    }
}
