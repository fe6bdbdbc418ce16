using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>torchvision's Inception <c>BasicConv2d</c>: conv (no bias) → BatchNorm (eps 0.001) → ReLU; names <c>conv.*</c>, <c>bn.*</c>.</summary>
public sealed class InceptionConv : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly BatchNorm2d bn;

    public InceptionConv(long inChannels, long outChannels, (long H, long W) kernel, long stride = 1, (long H, long W) padding = default) : base(nameof(InceptionConv))
    {
        conv = nn.Conv2d(inChannels, outChannels, kernel, stride: (stride, stride), padding: padding, bias: false);
        bn = nn.BatchNorm2d(outChannels, eps: 0.001);
        RegisterComponents();
    }

    public InceptionConv(long inChannels, long outChannels, long kernel, long stride = 1, long padding = 0)
        : this(inChannels, outChannels, (kernel, kernel), stride, (padding, padding)) { }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return nn.functional.relu(bn.forward(conv.forward(x))).MoveToOuterDisposeScope();
    }
}
