namespace SonicDiffusion.Evaluation;

/// <summary>The reports' PNG plots (ScottPlot): the two sweeps, intensity vs visual magnitude, AIC per class; the edit rates of <c>sonic eval edit</c>.</summary>
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

    /// <summary>
    /// <c>sonic eval edit</c>'s bar plot: per injection fraction, the class-switch rate, the structure-kept rates (SSIM,
    /// edge F1) and the share that does both; dashed lines at the target and at the switch rate of unedited sources.
    /// </summary>
    public static void WriteEditRates(string path, IReadOnlyList<EditFractionRow> rows, double doNothingSwitchRate, double target)
    {
        var plt = new ScottPlot.Plot();
        (string Name, Func<EditFractionRow, double> Value, ScottPlot.Color Color)[] series =
        [
            ("class switch", r => r.SwitchRate, ScottPlot.Colors.SteelBlue),
            ("SSIM kept", r => r.SsimKeptRate, ScottPlot.Colors.Orange),
            ("edge F1 kept", r => r.EdgeKeptRate, ScottPlot.Colors.Peru),
            ("switch ∧ both kept", r => r.SuccessRate, ScottPlot.Colors.SeaGreen),
        ];
        const double width = 0.8;
        double barWidth = width / series.Length;
        var bars = new List<ScottPlot.Bar>();
        for (int g = 0; g < rows.Count; g++)
            for (int s = 0; s < series.Length; s++)
                bars.Add(new ScottPlot.Bar
                {
                    Position = g - width / 2 + barWidth * (s + 0.5), Value = series[s].Value(rows[g]), FillColor = series[s].Color, Size = barWidth * 0.95,
                });
        plt.Add.Bars(bars);
        foreach (var (name, _, color) in series) plt.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = name, FillColor = color });
        var goal = plt.Add.HorizontalLine(target);
        goal.LinePattern = ScottPlot.LinePattern.Dashed;
        goal.Color = ScottPlot.Colors.Black;
        plt.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = $"target {target:0.##}", LineColor = ScottPlot.Colors.Black, LinePattern = ScottPlot.LinePattern.Dashed, LineWidth = 1 });
        var none = plt.Add.HorizontalLine(doNothingSwitchRate);
        none.LinePattern = ScottPlot.LinePattern.Dotted;
        none.Color = ScottPlot.Colors.Gray;
        plt.Legend.ManualItems.Add(new ScottPlot.LegendItem { LabelText = "switch rate of the unedited source", LineColor = ScottPlot.Colors.Gray, LinePattern = ScottPlot.LinePattern.Dotted, LineWidth = 1 });
        plt.ShowLegend(ScottPlot.Alignment.UpperLeft);
        plt.Axes.Bottom.SetTicks(Enumerable.Range(0, rows.Count).Select(i => (double)i).ToArray(),
            rows.Select(r => $"f = {r.Fraction.ToString(System.Globalization.CultureInfo.InvariantCulture)} (n = {r.Count})").ToArray());
        plt.Axes.SetLimits(-0.6, rows.Count - 0.4, 0, 1.35);
        plt.Title("Audio-guided edits of held-out scenes");
        plt.XLabel("feature = attention injection fraction");
        plt.YLabel("share of edits");
        Save(plt, path);
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
