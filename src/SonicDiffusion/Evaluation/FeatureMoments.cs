using SonicDiffusion.Core;
using SonicDiffusion.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// Running statistics of a feature set in float64 — count, Σx and Σxxᵀ — so that sets scored in separate runs (shards)
/// merge exactly by adding; mean and unbiased covariance (N − 1, as numpy's <c>np.cov</c>) come out at the end for the
/// Fréchet distance. Stored as safetensors: <c>count</c> (I64 [1]), <c>sum</c> (F64 [D]), <c>outer</c> (F64 [D, D]).
/// </summary>
public sealed class FeatureMoments : IDisposable
{
    public long Count { get; private set; }
    public Tensor Sum { get; }
    public Tensor Outer { get; }
    public long Dim => Sum.shape[0];

    public FeatureMoments(long dim)
    {
        Sum = torch.zeros(dim, dtype: ScalarType.Float64).DetachFromDisposeScope();
        Outer = torch.zeros(dim, dim, dtype: ScalarType.Float64).DetachFromDisposeScope();
    }

    /// <summary>Adds features [N, D].</summary>
    public void Add(Tensor features)
    {
        if (features.dim() != 2 || features.shape[1] != Dim)
            throw new SonicException($"feature statistics: expected [N, {Dim}] features, got [{string.Join(", ", features.shape)}]");
        using var scope = torch.NewDisposeScope();
        var x = features.detach().cpu().to_type(ScalarType.Float64);
        Sum.add_(x.sum(new long[] { 0 }));
        Outer.add_(x.t().matmul(x));
        Count += features.shape[0];
    }

    /// <summary>Adds another run's statistics (same width).</summary>
    public void Merge(FeatureMoments other)
    {
        if (other.Dim != Dim) throw new SonicException($"feature statistics: cannot merge width {other.Dim} into width {Dim}");
        Sum.add_(other.Sum);
        Outer.add_(other.Outer);
        Count += other.Count;
    }

    /// <summary>Mean [D] and unbiased covariance [D, D] (float64).</summary>
    public (Tensor Mean, Tensor Covariance) MeanAndCovariance(string what)
    {
        if (Count < 2) throw new SonicException($"{what}: FID needs at least 2 images, got {Count}");
        using var scope = torch.NewDisposeScope();
        var mean = Sum / Count;
        var cov = (Outer - torch.outer(mean, mean) * Count) / (Count - 1);
        return (mean.MoveToOuterDisposeScope(), cov.MoveToOuterDisposeScope());
    }

    /// <summary>FID between two sets' statistics (<see cref="FrechetDistance.Gaussian(Tensor, Tensor, Tensor, Tensor)"/>).</summary>
    public static double Fid(FeatureMoments a, FeatureMoments b)
    {
        var (ma, ca) = a.MeanAndCovariance("generated images");
        var (mb, cb) = b.MeanAndCovariance("reference images");
        using (ma) using (ca) using (mb) using (cb)
            return FrechetDistance.Gaussian(ma, ca, mb, cb);
    }

    public void Save(string path)
    {
        using var count = torch.tensor(new[] { Count }, dtype: ScalarType.Int64);
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["count"] = count, ["sum"] = Sum, ["outer"] = Outer });
    }

    public static FeatureMoments Load(string path)
    {
        using var st = SafetensorsFile.Open(path);
        foreach (var k in new[] { "count", "sum", "outer" })
            if (!st.Contains(k)) throw new SonicException($"{path}: no '{k}' tensor; not a feature statistics file");
        using var sum = st.Read("sum");
        using var outer = st.Read("outer");
        using var count = st.Read("count");
        if (sum.dim() != 1 || !outer.shape.SequenceEqual(new[] { sum.shape[0], sum.shape[0] }))
            throw new SonicException($"{path}: sum [{string.Join(",", sum.shape)}] and outer [{string.Join(",", outer.shape)}] do not fit together");
        var m = new FeatureMoments(sum.shape[0]) { Count = count.to_type(ScalarType.Int64).item<long>() };
        m.Sum.copy_(sum);
        m.Outer.copy_(outer);
        return m;
    }

    public void Dispose()
    {
        Sum.Dispose();
        Outer.Dispose();
    }
}
