using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>torchvision's <c>InceptionB</c> (Mixed_6a, grid 35→17): 3×3/2 | 1×1→3×3→3×3/2 | max pool 3/2.</summary>
public sealed class InceptionBlockB : nn.Module<Tensor, Tensor>
{
    private readonly InceptionConv branch3x3, branch3x3dbl_1, branch3x3dbl_2, branch3x3dbl_3;

    public InceptionBlockB(long inChannels, int d) : base(nameof(InceptionBlockB))
    {
        branch3x3 = new InceptionConv(inChannels, 384 / d, 3, stride: 2);
        branch3x3dbl_1 = new InceptionConv(inChannels, 64 / d, 1);
        branch3x3dbl_2 = new InceptionConv(64 / d, 96 / d, 3, padding: 1);
        branch3x3dbl_3 = new InceptionConv(96 / d, 96 / d, 3, stride: 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var b3 = branch3x3.forward(x);
        var bd = branch3x3dbl_3.forward(branch3x3dbl_2.forward(branch3x3dbl_1.forward(x)));
        var bp = F.max_pool2d(x, 3, 2);
        return torch.cat(new[] { b3, bd, bp }, 1).MoveToOuterDisposeScope();
    }
}
