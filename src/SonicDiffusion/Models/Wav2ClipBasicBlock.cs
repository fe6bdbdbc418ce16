using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>ResNet <c>BasicBlock</c> of Wav2CLIP's audio encoder: conv3×3 → BN → ReLU → conv3×3 → BN, + identity (or downsample), ReLU.</summary>
public sealed class Wav2ClipBasicBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1, conv2;
    private readonly BatchNorm2d bn1, bn2;
    private readonly Sequential? downsample;

    public Wav2ClipBasicBlock(long inPlanes, long planes, long stride) : base(nameof(Wav2ClipBasicBlock))
    {
        conv1 = nn.Conv2d(inPlanes, planes, 3, stride: stride, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(planes);
        conv2 = nn.Conv2d(planes, planes, 3, padding: 1, bias: false);
        bn2 = nn.BatchNorm2d(planes);
        if (stride != 1 || inPlanes != planes)
            downsample = nn.Sequential(("0", nn.Conv2d(inPlanes, planes, 1, stride: stride, bias: false)), ("1", nn.BatchNorm2d(planes)));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = F.relu(bn1.forward(conv1.forward(x)));
        h = bn2.forward(conv2.forward(h));
        var identity = downsample != null ? downsample.forward(x) : x;
        return F.relu(h + identity).MoveToOuterDisposeScope();
    }
}
