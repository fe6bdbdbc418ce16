using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>Official PANNs/CLAP ConvBlock: (conv3x3 no bias → BN → ReLU) × 2 → pooling.</summary>
public sealed class Cnn14ConvBlock : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d conv1;
    private readonly Conv2d conv2;
    private readonly BatchNorm2d bn1;
    private readonly BatchNorm2d bn2;
    private readonly long[] _pool;
    private readonly string _poolType;

    public Cnn14ConvBlock(long inChannels, long outChannels, long[] poolSize, string poolType, double bnEps) : base(nameof(Cnn14ConvBlock))
    {
        conv1 = nn.Conv2d(inChannels, outChannels, kernel_size: 3, stride: 1, padding: 1, bias: false);
        conv2 = nn.Conv2d(outChannels, outChannels, kernel_size: 3, stride: 1, padding: 1, bias: false);
        bn1 = nn.BatchNorm2d(outChannels, eps: bnEps);
        bn2 = nn.BatchNorm2d(outChannels, eps: bnEps);
        _pool = poolSize;
        _poolType = poolType;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = nn.functional.relu(bn1.forward(conv1.call(x)));
        h = nn.functional.relu(bn2.forward(conv2.call(h)));
        if (_pool.All(p => p == 1)) return h.MoveToOuterDisposeScope();
        var pooled = _poolType switch
        {
            "avg" => nn.functional.avg_pool2d(h, _pool),
            "max" => nn.functional.max_pool2d(h, _pool),
            _ => nn.functional.avg_pool2d(h, _pool) + nn.functional.max_pool2d(h, _pool),
        };
        return pooled.MoveToOuterDisposeScope();
    }
}
