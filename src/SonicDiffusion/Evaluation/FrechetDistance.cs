using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// Fréchet distance between two Gaussians, d² = |μ₁ − μ₂|² + Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½) (the FID formula), computed in
/// float64. Tr (Σ₁Σ₂)^½ = Tr (Σ₁^½ Σ₂ Σ₁^½)^½, a symmetric positive semi-definite matrix, so both square roots are taken
/// by symmetric eigen-decomposition (negative round-off eigenvalues clamped to 0) — no iterative sqrtm, no complex parts.
/// </summary>
public static class FrechetDistance
{
    /// <summary>Fréchet distance of the Gaussians fitted to two feature sets [N, D] and [M, D] (N, M ≥ 2; covariance with N − 1).</summary>
    public static double Compute(Tensor a, Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        var (muA, covA) = Fit(a, "first");
        var (muB, covB) = Fit(b, "second");
        if (muA.shape[0] != muB.shape[0])
            throw new SonicException($"Fréchet distance: feature widths differ ({muA.shape[0]} vs {muB.shape[0]})");
        return Gaussian(muA, covA, muB, covB);
    }

    /// <summary>Fréchet distance of two feature sets given as rows of doubles.</summary>
    public static double Compute(IReadOnlyList<double[]> a, IReadOnlyList<double[]> b)
    {
        using var ta = ToTensor(a);
        using var tb = ToTensor(b);
        return Compute(ta, tb);
    }

    /// <summary>Mean [D] and unbiased covariance [D, D] (float64) of features [N, D].</summary>
    public static (Tensor Mean, Tensor Covariance) Fit(Tensor features, string what = "")
    {
        if (features.dim() != 2) throw new SonicException($"Fréchet distance: {what} feature set must be [N, D], got [{string.Join(", ", features.shape)}]");
        long n = features.shape[0];
        if (n < 2) throw new SonicException($"Fréchet distance: {what} feature set needs at least 2 samples, got {n}");
        using var scope = torch.NewDisposeScope();
        var x = features.to_type(ScalarType.Float64);
        var mean = x.mean([0]);
        var d = x - mean;
        var cov = d.t().matmul(d).div(n - 1);
        return (mean.MoveToOuterDisposeScope(), cov.MoveToOuterDisposeScope());
    }

    /// <summary>Fréchet distance of N(μ₁, Σ₁) and N(μ₂, Σ₂) (any float dtype; computed in float64).</summary>
    public static double Gaussian(Tensor mu1, Tensor sigma1, Tensor mu2, Tensor sigma2)
    {
        using var scope = torch.NewDisposeScope();
        var m1 = mu1.to_type(ScalarType.Float64).flatten();
        var m2 = mu2.to_type(ScalarType.Float64).flatten();
        var s1 = Symmetric(sigma1);
        var s2 = Symmetric(sigma2);
        double meanTerm = (m1 - m2).square().sum().item<double>();
        var root1 = SqrtPsd(s1);
        var inner = Symmetric(root1.matmul(s2).matmul(root1));
        double traceSqrt = torch.linalg.eigvalsh(inner).clamp_min(0).sqrt().sum().item<double>();
        double d = meanTerm + s1.trace().item<double>() + s2.trace().item<double>() - 2 * traceSqrt;
        return Math.Max(0, d);
    }

    /// <summary>Gaussians given as arrays (tests, hand computations).</summary>
    public static double Gaussian(double[] mu1, double[,] sigma1, double[] mu2, double[,] sigma2)
    {
        using var scope = torch.NewDisposeScope();
        return Gaussian(torch.tensor(mu1), torch.tensor(sigma1), torch.tensor(mu2), torch.tensor(sigma2));
    }

    /// <summary>The principal square root of a symmetric positive semi-definite matrix (float64).</summary>
    public static Tensor SqrtPsd(Tensor matrix)
    {
        using var scope = torch.NewDisposeScope();
        var (values, vectors) = torch.linalg.eigh(Symmetric(matrix));
        var root = vectors.mul(values.clamp_min(0).sqrt().unsqueeze(0)).matmul(vectors.t());
        return root.MoveToOuterDisposeScope();
    }

    private static Tensor Symmetric(Tensor m)
    {
        var x = m.to_type(ScalarType.Float64);
        if (x.dim() != 2 || x.shape[0] != x.shape[1]) throw new SonicException($"Fréchet distance: covariance must be square, got [{string.Join(", ", m.shape)}]");
        return (x + x.t()).mul(0.5);
    }

    private static Tensor ToTensor(IReadOnlyList<double[]> rows)
    {
        if (rows.Count == 0) return torch.zeros(0, 0, dtype: ScalarType.Float64);
        int d = rows[0].Length;
        var flat = new double[rows.Count * d];
        for (int i = 0; i < rows.Count; i++)
        {
            if (rows[i].Length != d) throw new SonicException($"Fréchet distance: feature row {i} has {rows[i].Length} values, expected {d}");
            Array.Copy(rows[i], 0, flat, i * d, d);
        }
        return torch.tensor(flat, [rows.Count, d], dtype: ScalarType.Float64);
    }
}
