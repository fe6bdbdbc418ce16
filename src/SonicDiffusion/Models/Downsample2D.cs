using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>
/// 3×3 stride-2 <c>conv</c>. With padding 1 (UNet) the padding is symmetric; with padding 0 (VAE encoder) the input is
/// first padded by one zero column on the right and one zero row at the bottom (asymmetric, as in CompVis).
/// </summary>
public sealed class Downsample2D : nn.Module<Tensor, Tensor>
{
    public readonly Conv2d conv;
    private readonly int _padding;

    public Downsample2D(long channels, int padding) : base(nameof(Downsample2D))
    {
        _padding = padding;
        conv = nn.Conv2d(channels, channels, 3, stride: 2, padding: padding);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        if (_padding != 0) return conv.call(x);
        using var padded = F.pad(x, new long[] { 0, 1, 0, 1 });
        return conv.call(padded);
    }
}
