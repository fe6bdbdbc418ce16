using SonicDiffusion.Core;
using SonicDiffusion.Evaluation;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>Fréchet distance, Spearman ρ and colour shifts against hand-computed values.</summary>
public class EvaluationMetricsTests
{
    [Fact]
    public void FrechetOfIsotropicGaussians()
    {
        // |(1,2)|² + tr(I) + tr(4I) − 2 tr(2I) = 5 + 2 + 8 − 8 = 7
        double d = FrechetDistance.Gaussian([0, 0], new double[,] { { 1, 0 }, { 0, 1 } }, [1, 2], new double[,] { { 4, 0 }, { 0, 4 } });
        Assert.Equal(7.0, d, 10);
    }

    [Fact]
    public void FrechetOfNonCommutingCovariances()
    {
        // Σ₁Σ₂ = [[2,4],[1,8]]: trace 10, det 12; for 2×2, Tr √M = √(tr M + 2√det M) = √(10 + 2√12).
        // d = |(3,−1)|² + 4 + 5 − 2√(10 + 4√3) = 10 + 9 − 8.228786…
        double expected = 10 + 4 + 5 - 2 * Math.Sqrt(10 + 2 * Math.Sqrt(12));
        double d = FrechetDistance.Gaussian([1, 0], new double[,] { { 2, 1 }, { 1, 2 } }, [-2, 1], new double[,] { { 1, 0 }, { 0, 4 } });
        Assert.Equal(expected, d, 10);
        Assert.Equal(10.771219, d, 5);
        double swapped = FrechetDistance.Gaussian([-2, 1], new double[,] { { 1, 0 }, { 0, 4 } }, [1, 0], new double[,] { { 2, 1 }, { 1, 2 } });
        Assert.Equal(d, swapped, 10);
    }

    [Fact]
    public void FrechetOfSingularCovariancesAndIdenticalSets()
    {
        // Rank-1 covariances along different axes: d = 0 + 1 + 1 − 2·0 = 2.
        double d = FrechetDistance.Gaussian([0, 0], new double[,] { { 1, 0 }, { 0, 0 } }, [0, 0], new double[,] { { 0, 0 }, { 0, 1 } });
        Assert.Equal(2.0, d, 10);

        torch.manual_seed(3);
        using var x = torch.randn(50, 8, dtype: ScalarType.Float64);
        Assert.Equal(0.0, FrechetDistance.Compute(x, x), 8);
        using var shifted = x + 3;
        Assert.Equal(8 * 9.0, FrechetDistance.Compute(x, shifted), 6);   // same covariance: |Δμ|² = 8·3²
    }

    [Fact]
    public void FrechetFromSamplesUsesUnbiasedCovariance()
    {
        // a: (0,0),(2,0),(0,2),(2,2): mean (1,1), unbiased cov (4/3)I. b: 4 points of (0,0) spread ±1 on x only:
        // (−1,0),(1,0),(−1,0),(1,0): mean 0, cov diag(4/3, 0). d = 2 + tr(4/3 I) + 4/3 − 2·(4/3) = 2 + 8/3 + 4/3 − 8/3 = 10/3.
        var a = new[] { new double[] { 0, 0 }, [2, 0], [0, 2], [2, 2] };
        var b = new[] { new double[] { -1, 0 }, [1, 0], [-1, 0], [1, 0] };
        Assert.Equal(10.0 / 3, FrechetDistance.Compute(a, b), 10);
        Assert.Throws<SonicException>(() => FrechetDistance.Compute(a.Take(1).ToList(), b));
    }

    [Fact]
    public void SqrtOfPsdMatrixSquaresBack()
    {
        using var m = torch.tensor(new double[,] { { 2, 1 }, { 1, 2 } });
        using var r = FrechetDistance.SqrtPsd(m);
        // eigenvalues 3 and 1 → √ = ½[[√3+1, √3−1],[√3−1, √3+1]]
        Assert.Equal((Math.Sqrt(3) + 1) / 2, r[0, 0].item<double>(), 12);
        Assert.Equal((Math.Sqrt(3) - 1) / 2, r[0, 1].item<double>(), 12);
    }

    [Fact]
    public void SpearmanWithTies()
    {
        Assert.Equal(new[] { 1, 2.5, 2.5, 4 }, Spearman.Ranks([1, 2, 2, 3]));
        Assert.Equal(new double[] { 2, 4, 2, 2 }, Spearman.Ranks([5, 7, 5, 5]));
        // ranks x = [1, 2.5, 2.5, 4], y = [1, 3, 2, 4]: cov 4.5, var 4.5 and 5 → ρ = 4.5/√22.5 = √0.9
        Assert.Equal(Math.Sqrt(0.9), Spearman.Rho([1, 2, 2, 3], [10, 30, 20, 40]), 12);
        Assert.Equal(1.0, Spearman.Rho([1, 2, 3, 4, 5], [1, 4, 9, 16, 25]), 12);
        Assert.Equal(-1.0, Spearman.Rho([1, 2, 3], [3, 2, 1]), 12);
        Assert.True(double.IsNaN(Spearman.Rho([1, 1, 1], [1, 2, 3])));
        Assert.True(double.IsNaN(Spearman.Rho([1], [2])));
    }

    [Fact]
    public void HueRotationKeepsGreyAndA120DegreeTurnPermutesChannels()
    {
        var m = ColourShift.HueMatrix(2 * Math.PI / 3);
        var cyclic = ColourShift.ChannelPermutation(2, 0, 1).Matrix;   // R' = B, G' = R, B' = G
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                Assert.Equal(cyclic[r, c], m[r, c], 12);

        using var grey = torch.full(new long[] { 1, 3, 2, 2 }, 0.4f);
        using var rotated = ColourShift.HueRotation(73).Apply(grey);
        Assert.True((rotated - grey).abs().max().item<float>() < 1e-6f);
        using var red = torch.zeros(1, 3, 1, 1);
        red[0, 0] = torch.tensor(1f);
        using var swapped = ColourShift.ChannelPermutation(2, 1, 0).Apply(red);
        Assert.Equal(new[] { 0f, 0f, 1f }, swapped.flatten().data<float>().ToArray());
        Assert.Equal(8, ColourShift.Standard.Count);
    }
}

/// <summary>Which rows an evaluation scores: split, --where filters, labels written any way.</summary>
public class EvaluationRowSelectionTests
{
    [Fact]
    public void WhereFiltersRowsAndLabelsMatchWhateverTheirSpelling()
    {
        using var tmp = Infrastructure.RepoPaths.NewTemp();
        Directory.CreateDirectory(tmp.File("a"));
        foreach (var name in new[] { "1", "2", "3", "4" }) File.WriteAllBytes(tmp.File($"a/{name}.wav"), [0]);
        File.WriteAllLines(tmp.File("m.jsonl"),
        [
            """{"audio":"a/1.wav","image":"","caption":"c","label":"Wind Noise","split":"test","recipe_held_out":true}""",
            """{"audio":"a/2.wav","image":"","caption":"c","label":"fire_crackling","split":"test","recipe_held_out":false}""",
            """{"audio":"a/3.wav","image":"","caption":"c","label":"fire-crackling","split":"test","recipe_held_out":true}""",
            """{"audio":"a/4.wav","image":"","caption":"c","label":"raining","split":"val","recipe_held_out":true}""",
        ]);
        var manifest = WorldEvaluator.ReadManifest(tmp.File("m.jsonl"));
        var classes = new WorldClassifierConfig();
        Assert.Equal(classes.LabelIndex("wind_noise"), classes.LabelIndex("Wind Noise"));
        Assert.Equal(classes.LabelIndex("fire_crackling"), classes.LabelIndex("FIRE-crackling"));
        Assert.Equal(-1, classes.LabelIndex("birdsong"));

        var notes = new List<string>();
        var (all, split) = WorldEvaluator.HeldOutRows(manifest, classes, "test", notes.Add);
        Assert.Equal(3, all.Count);
        Assert.Equal("test", split);
        var (held, heldSplit) = WorldEvaluator.HeldOutRows(manifest, classes, "test", notes.Add, ["recipe_held_out=TRUE"]);
        Assert.Equal(["a/1.wav", "a/3.wav"], held.Select(r => r.Audio).Order());
        Assert.Equal("test where recipe_held_out=TRUE", heldSplit);
        Assert.Empty(notes);
        var err = Assert.Throws<SonicException>(() => WorldEvaluator.HeldOutRows(manifest, classes, "test", notes.Add, ["recipe=none"]));
        Assert.Contains("no rows in split 'test where recipe=none'", err.Message);
        Assert.Contains("--where recipe", Assert.Throws<SonicException>(() => new EvaluationOptions { Where = ["recipe"] }.Validate()).Message);
    }
}
