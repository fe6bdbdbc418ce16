using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>Nearest-neighbour ×2 (or to an explicit size) followed by a 3×3 <c>conv</c>.</summary>
public sealed class Upsample2D : nn.Module
{
    public readonly Conv2d conv;

    public Upsample2D(long channels) : base(nameof(Upsample2D))
    {
        conv = nn.Conv2d(channels, channels, 3, padding: 1);
        RegisterComponents();
    }

    /// <param name="outputSize">Target [H, W]; null = twice the input size.</param>
    public Tensor forward(Tensor x, long[]? outputSize = null)
    {
        using var up = outputSize != null
            ? F.interpolate(x, size: outputSize, mode: InterpolationMode.Nearest)
            : F.interpolate(x, scale_factor: new double[] { 2, 2 }, mode: InterpolationMode.Nearest);
        return conv.call(up);
    }
}
