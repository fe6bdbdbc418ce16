using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// Structural similarity (Wang, Bovik, Sheikh, Simoncelli 2004) of two images in [0, 1], as their reference code
/// <c>ssim_index.m</c>: greyscale (BT.601 luma 0.299 R + 0.587 G + 0.114 B), an 11×11 Gaussian window with σ 1.5
/// (normalised to sum 1), local statistics with the window's weights (σ² = E[x²] − μ²), C1 = (0.01 L)², C2 = (0.03 L)²
/// with dynamic range L = 1, the map over the "valid" positions only (no padding), SSIM = the map's mean. No automatic
/// down-sampling (the reference's later versions shrink images larger than 256 px). Computed in float64.
/// </summary>
public static class Ssim
{
    public const int WindowSize = 11;
    public const double Sigma = 1.5;
    public const double C1 = 0.01 * 0.01;
    public const double C2 = 0.03 * 0.03;

    /// <summary>BT.601 luma of [3,H,W] or [1,3,H,W] RGB (or a [1,H,W] / [1,1,H,W] grey image), as [1,1,H,W] float64.</summary>
    public static Tensor Luma(Tensor image)
    {
        using var scope = torch.NewDisposeScope();
        var x = image.detach().cpu().to_type(ScalarType.Float64);
        if (x.dim() == 3) x = x.unsqueeze(0);
        if (x.dim() != 4 || x.shape[0] != 1 || (x.shape[1] != 3 && x.shape[1] != 1))
            throw new SonicException($"image of shape [{string.Join(", ", image.shape)}]: expected one RGB or grey image ([3,H,W] or [1,3,H,W])");
        if (x.shape[1] == 1) return x.MoveToOuterDisposeScope();
        var w = torch.tensor(new[] { 0.299, 0.587, 0.114 }, dtype: ScalarType.Float64).reshape(1, 3, 1, 1);
        return (x * w).sum(1, keepdim: true).MoveToOuterDisposeScope();
    }

    /// <summary>The normalised 11×11 Gaussian window (σ 1.5) as a [1,1,11,11] float64 kernel.</summary>
    public static Tensor Window()
    {
        var g = new double[WindowSize];
        for (int i = 0; i < WindowSize; i++)
        {
            double d = i - WindowSize / 2;
            g[i] = Math.Exp(-d * d / (2 * Sigma * Sigma));
        }
        double sum = g.Sum();
        var w = new double[WindowSize * WindowSize];
        for (int y = 0; y < WindowSize; y++)
            for (int x = 0; x < WindowSize; x++) w[y * WindowSize + x] = g[y] * g[x] / (sum * sum);
        return torch.tensor(w, dtype: ScalarType.Float64).reshape(1, 1, WindowSize, WindowSize);
    }

    /// <summary>The SSIM map [H−10, W−10] of two images of the same size.</summary>
    public static Tensor Map(Tensor a, Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var x = Luma(a);
        var y = Luma(b);
        if (!x.shape.SequenceEqual(y.shape))
            throw new SonicException($"SSIM: images differ in size ({x.shape[3]}x{x.shape[2]} and {y.shape[3]}x{y.shape[2]})");
        if (x.shape[2] < WindowSize || x.shape[3] < WindowSize)
            throw new SonicException($"SSIM: image {x.shape[3]}x{x.shape[2]} is smaller than the {WindowSize}x{WindowSize} window");
        var w = Window();
        Tensor Filter(Tensor t) => F.conv2d(t, w);
        var mx = Filter(x);
        var my = Filter(y);
        var sxx = Filter(x * x) - mx * mx;
        var syy = Filter(y * y) - my * my;
        var sxy = Filter(x * y) - mx * my;
        var map = (2 * mx * my + C1) * (2 * sxy + C2) / ((mx * mx + my * my + C1) * (sxx + syy + C2));
        return map[0, 0].MoveToOuterDisposeScope();
    }

    /// <summary>Mean SSIM of two images in [0, 1] of the same size (1 = identical).</summary>
    public static double Compute(Tensor a, Tensor b)
    {
        using var map = Map(a, b);
        return map.mean().item<double>();
    }
}
