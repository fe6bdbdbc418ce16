using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>torchvision's <c>InceptionD</c> (Mixed_7a, grid 17→8): 1×1→3×3/2 | 1×1→1×7→7×1→3×3/2 | max pool 3/2.</summary>
public sealed class InceptionBlockD : nn.Module<Tensor, Tensor>
{
    private readonly InceptionConv branch3x3_1, branch3x3_2, branch7x7x3_1, branch7x7x3_2, branch7x7x3_3, branch7x7x3_4;

    public InceptionBlockD(long inChannels, int d) : base(nameof(InceptionBlockD))
    {
        branch3x3_1 = new InceptionConv(inChannels, 192 / d, 1);
        branch3x3_2 = new InceptionConv(192 / d, 320 / d, 3, stride: 2);
        branch7x7x3_1 = new InceptionConv(inChannels, 192 / d, 1);
        branch7x7x3_2 = new InceptionConv(192 / d, 192 / d, (1, 7), padding: (0, 3));
        branch7x7x3_3 = new InceptionConv(192 / d, 192 / d, (7, 1), padding: (3, 0));
        branch7x7x3_4 = new InceptionConv(192 / d, 192 / d, 3, stride: 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var b3 = branch3x3_2.forward(branch3x3_1.forward(x));
        var b7 = branch7x7x3_4.forward(branch7x7x3_3.forward(branch7x7x3_2.forward(branch7x7x3_1.forward(x))));
        var bp = F.max_pool2d(x, 3, 2);
        return torch.cat(new[] { b3, b7, bp }, 1).MoveToOuterDisposeScope();
    }
}
