namespace SonicDiffusion.Evaluation;

/// <summary>The report's PNG plots (ScottPlot): the two sweeps, intensity vs visual magnitude, AIC per class.</summary>
public static class EvaluationPlots
{
    public const string BetaSweepFile = "beta-sweep.png";
    public const string GuidanceSweepFile = "guidance-sweep.png";
    public const string IntensityFile = "intensity.png";
    public const string AicPerClassFile = "aic-per-class.png";

    /// <summary>Writes the plots that have data into <paramref name="dir"/>; returns their file names.</summary>
    public static IReadOnlyList<string> Write(string dir, SetMetrics main, IReadOnlyList<SweepPoint> betaSweep, IReadOnlyList<SweepPoint> guidanceSweep,
        IReadOnlyList<SampleResult> samples, double beta, double guidance)
    {
        var files = new List<string>();
        if (betaSweep.Count > 0)
        {
            SweepPlot(Path.Combine(dir, BetaSweepFile), $"β sweep (guidance {guidance:0.##})", "β", betaSweep, p => p.Beta);
            files.Add(BetaSweepFile);
        }
        if (guidanceSweep.Count > 0)
        {
            SweepPlot(Path.Combine(dir, GuidanceSweepFile), $"Guidance sweep (β {beta:0.##})", "guidance scale", guidanceSweep, p => p.Guidance);
            files.Add(GuidanceSweepFile);
        }
        var withIntensity = samples.Where(s => s.Intensity is not null).ToList();
        if (withIntensity.Count > 0)
        {
            var plt = new ScottPlot.Plot();
            var withReal = withIntensity.Where(s => s.RealMagnitude is not null).ToList();
            if (withReal.Count > 0)
            {
                var real = plt.Add.ScatterPoints(withReal.Select(s => s.Intensity!.Value).ToArray(), withReal.Select(s => s.RealMagnitude!.Value).ToArray());
                real.LegendText = main.RealIntensitySpearman is { } r ? $"paired real image (ρ = {r:0.000})" : "paired real image";
                real.Color = ScottPlot.Colors.Gray.WithAlpha(0.6);
            }
            var pts = plt.Add.ScatterPoints(withIntensity.Select(s => s.Intensity!.Value).ToArray(), withIntensity.Select(s => s.PredictedMagnitude).ToArray());
            pts.LegendText = main.IntensitySpearman is { } rho ? $"generated (Spearman ρ = {rho:0.000})" : "generated";
            plt.ShowLegend(ScottPlot.Alignment.UpperLeft);
            plt.Title("Sound intensity → visual magnitude (classifier intensity head)");
            plt.XLabel("intensity of the sound (manifest)");
            plt.YLabel("visual magnitude (classifier's intensity head)");
            plt.Axes.SetLimits(-0.05, 1.05, -0.05, 1.05);
            Save(plt, Path.Combine(dir, IntensityFile));
            files.Add(IntensityFile);
        }
        if (main.AicPerClass.Count > 0)
        {
            var plt = new ScottPlot.Plot();
            var labels = main.AicPerClass.Keys.ToArray();
            var bars = plt.Add.Bars(main.AicPerClass.Values.Reverse().ToArray());
            bars.Horizontal = true;
            plt.Axes.Left.SetTicks(Enumerable.Range(0, labels.Length).Select(i => (double)i).ToArray(), labels.Reverse().ToArray());
            plt.Axes.SetLimitsX(0, 1.05);
            plt.Title($"AIC per class (overall {main.Aic:0.000})");
            plt.XLabel("class agreement");
            Save(plt, Path.Combine(dir, AicPerClassFile));
            files.Add(AicPerClassFile);
        }
        return files;
    }

    private static void SweepPlot(string path, string title, string xLabel, IReadOnlyList<SweepPoint> points, Func<SweepPoint, double> x)
    {
        var plt = new ScottPlot.Plot();
        double[] xs = points.Select(x).ToArray();
        void Line(string name, Func<SetMetrics, double?> y)
        {
            if (points.All(p => y(p.Metrics) is null)) return;
            var s = plt.Add.Scatter(xs, points.Select(p => y(p.Metrics) ?? double.NaN).ToArray());
            s.LegendText = name;
            s.LineWidth = 2;
            s.MarkerSize = 7;
        }
        Line("AIC", m => m.Aic);
        Line("IIS", m => m.Iis);
        Line("intensity ρ", m => m.IntensitySpearman);
        plt.ShowLegend(ScottPlot.Alignment.LowerRight);
        plt.Title(title);
        plt.XLabel(xLabel);
        plt.YLabel("score");
        plt.Axes.SetLimitsY(-0.05, 1.05);
        Save(plt, path);
    }

    private static void Save(ScottPlot.Plot plt, string path, int width = 800, int height = 480)
    {
        string tmp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "." + Path.GetFileNameWithoutExtension(path) + ".tmp.png");
        plt.SavePng(tmp, width, height);
        File.Move(tmp, path, true);
    }
}
