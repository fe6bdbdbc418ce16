using SonicDiffusion.Core;
using SonicDiffusion.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Sharding;

/// <summary>
/// Sufficient statistics of a feature set for the Fréchet distance, in float64: the count n, the sum Σx and the sum of
/// outer products Σxxᵀ. Statistics of disjoint sets add, so shards' statistics merge exactly (up to float64 round-off)
/// into those of the whole set; mean = Σx/n, unbiased covariance = (Σxxᵀ − n·μμᵀ)/(n − 1).
/// </summary>
public sealed class FeatureStatistics
{
    public int Dim { get; }
    public long Count { get; private set; }
    public double[] Sum { get; }
    /// <summary>Σxxᵀ, row-major [Dim, Dim].</summary>
    public double[] OuterSum { get; }

    public FeatureStatistics(int dim)
    {
        if (dim < 1) throw new ArgumentOutOfRangeException(nameof(dim));
        Dim = dim;
        Sum = new double[dim];
        OuterSum = new double[(long)dim * dim];
    }

    public FeatureStatistics(long count, double[] sum, double[] outerSum)
    {
        Dim = sum.Length;
        if (outerSum.LongLength != (long)Dim * Dim) throw new SonicException($"feature statistics: outer-product sum has {outerSum.LongLength} values, expected {Dim}×{Dim}");
        Count = count;
        Sum = sum;
        OuterSum = outerSum;
    }

    public void Add(IReadOnlyList<double> x)
    {
        if (x.Count != Dim) throw new SonicException($"feature statistics: a feature vector has {x.Count} values, expected {Dim}");
        Count++;
        for (int i = 0; i < Dim; i++)
        {
            double xi = x[i];
            Sum[i] += xi;
            long row = (long)i * Dim;
            for (int j = 0; j < Dim; j++) OuterSum[row + j] += xi * x[j];
        }
    }

    public void Add(FeatureStatistics other)
    {
        if (other.Dim != Dim) throw new SonicException($"feature statistics: cannot merge {other.Dim}-d features into {Dim}-d ones");
        Count += other.Count;
        for (int i = 0; i < Dim; i++) Sum[i] += other.Sum[i];
        for (long i = 0; i < OuterSum.LongLength; i++) OuterSum[i] += other.OuterSum[i];
    }

    /// <summary>Mean [D] and unbiased covariance [D, D] (float64).</summary>
    public (Tensor Mean, Tensor Covariance) Gaussian(string what = "feature set")
    {
        if (Count < 2) throw new SonicException($"Fréchet distance: {what} needs at least 2 samples, got {Count}");
        using var scope = torch.NewDisposeScope();
        var sum = torch.tensor(Sum, dtype: ScalarType.Float64);
        var outer = torch.tensor(OuterSum, [Dim, Dim], dtype: ScalarType.Float64);
        var mean = sum / Count;
        var cov = (outer - mean.outer(mean) * Count) / (Count - 1);
        return (mean.MoveToOuterDisposeScope(), cov.MoveToOuterDisposeScope());
    }

    /// <summary>The Fréchet distance of the Gaussians of two feature sets (the FID formula).</summary>
    public static double Frechet(FeatureStatistics a, FeatureStatistics b, string whatA = "first set", string whatB = "second set")
    {
        if (a.Dim != b.Dim) throw new SonicException($"Fréchet distance: feature widths differ ({a.Dim} vs {b.Dim})");
        using var scope = torch.NewDisposeScope();
        var (muA, covA) = a.Gaussian(whatA);
        var (muB, covB) = b.Gaussian(whatB);
        return FrechetDistance.Gaussian(muA, covA, muB, covB);
    }
}
