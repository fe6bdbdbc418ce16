using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// Edge-map similarity of two images in [0, 1]: the boundary F1 score with a pixel tolerance (as the BSDS boundary
/// benchmark, with dilation instead of one-to-one matching). Edges = pixels whose Sobel gradient magnitude of the
/// greyscale image (<see cref="Ssim.Luma"/>; kernels [1 2 1]ᵀ[−1 0 1] / 4 so a luma step of height h reads h on the
/// two pixels beside it; "valid" positions, no padding) is at least <see cref="DefaultThreshold"/>. Precision = share of
/// the second image's edge pixels within <c>tolerance</c> pixels (Chebyshev) of an edge of the first; recall = the
/// reverse; F1 = 2PR / (P + R). Two edgeless images score 1, an edgeless image against one with edges 0. Symmetric.
/// </summary>
public static class EdgeSimilarity
{
    /// <summary>Luma gradient that counts as an edge: a step of 0.1 (about 26 grey levels of 255).</summary>
    public const double DefaultThreshold = 0.1;
    /// <summary>Edges up to 1 px apart match (generated images shift edges by a pixel without changing the layout).</summary>
    public const int DefaultTolerance = 1;

    /// <summary>Sobel gradient magnitude [H−2, W−2] of the image's luma (float64).</summary>
    public static Tensor Magnitude(Tensor image)
    {
        using var scope = torch.NewDisposeScope();
        var x = Ssim.Luma(image);
        if (x.shape[2] < 3 || x.shape[3] < 3) throw new SonicException($"edge map: image {x.shape[3]}x{x.shape[2]} is smaller than 3x3");
        var gx = torch.tensor(new double[] { -1, 0, 1, -2, 0, 2, -1, 0, 1 }, dtype: ScalarType.Float64).reshape(1, 1, 3, 3) / 4;
        var gy = gx.transpose(2, 3);
        var dx = F.conv2d(x, gx);
        var dy = F.conv2d(x, gy);
        return (dx * dx + dy * dy).sqrt()[0, 0].MoveToOuterDisposeScope();
    }

    /// <summary>Boolean edge map [H−2, W−2].</summary>
    public static Tensor Edges(Tensor image, double threshold = DefaultThreshold)
    {
        using var m = Magnitude(image);
        return m.ge(threshold);
    }

    /// <summary>Boundary F1 of the two images' edge maps (images of the same size).</summary>
    public static double F1(Tensor a, Tensor b, double threshold = DefaultThreshold, int tolerance = DefaultTolerance)
    {
        if (tolerance < 0) throw new SonicException($"edge tolerance {tolerance}: must be >= 0");
        using var scope = torch.NewDisposeScope();
        var ea = Edges(a, threshold);
        var eb = Edges(b, threshold);
        if (!ea.shape.SequenceEqual(eb.shape))
            throw new SonicException($"edge similarity: images differ in size ({ea.shape[1] + 2}x{ea.shape[0] + 2} and {eb.shape[1] + 2}x{eb.shape[0] + 2})");
        long na = ea.sum().item<long>(), nb = eb.sum().item<long>();
        if (na == 0 && nb == 0) return 1;
        if (na == 0 || nb == 0) return 0;
        var da = Dilate(ea, tolerance);
        var db = Dilate(eb, tolerance);
        double precision = (double)eb.logical_and(da).sum().item<long>() / nb;
        double recall = (double)ea.logical_and(db).sum().item<long>() / na;
        return precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
    }

    private static Tensor Dilate(Tensor edges, int tolerance)
    {
        if (tolerance == 0) return edges;
        var f = edges.to_type(ScalarType.Float32).unsqueeze(0).unsqueeze(0);
        return F.max_pool2d(f, 2 * tolerance + 1, stride: 1, padding: tolerance)[0, 0].gt(0);
    }
}
