using SonicDiffusion.Core;

namespace SonicDiffusion.Evaluation;

/// <summary>Spearman's rank correlation ρ: Pearson correlation of the ranks, ties sharing their average rank.</summary>
public static class Spearman
{
    /// <summary>ρ of paired samples; NaN when fewer than 2 pairs or when either side is constant.</summary>
    public static double Rho(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        if (x.Count != y.Count) throw new SonicException($"Spearman: {x.Count} values paired with {y.Count}");
        if (x.Count < 2) return double.NaN;
        return Pearson(Ranks(x), Ranks(y));
    }

    /// <summary>1-based ranks; tied values get the mean of the ranks they span. NaN is not allowed.</summary>
    public static double[] Ranks(IReadOnlyList<double> values)
    {
        if (values.Any(double.IsNaN)) throw new SonicException("Spearman: a value is NaN");
        var order = Enumerable.Range(0, values.Count).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Count];
        for (int start = 0; start < order.Length;)
        {
            int end = start;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[start]]) end++;
            double rank = (start + end) / 2.0 + 1;
            for (int k = start; k <= end; k++) ranks[order[k]] = rank;
            start = end + 1;
        }
        return ranks;
    }

    /// <summary>Pearson correlation; NaN when either side has zero variance.</summary>
    public static double Pearson(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        double mx = x.Average(), my = y.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < x.Count; i++)
        {
            double dx = x[i] - mx, dy = y[i] - my;
            sxy += dx * dy;
            sxx += dx * dx;
            syy += dy * dy;
        }
        return sxx == 0 || syy == 0 ? double.NaN : sxy / Math.Sqrt(sxx * syy);
    }
}
