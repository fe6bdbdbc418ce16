namespace SonicDiffusion.Training;

/// <summary>Renders the loss curve of a run (raw loss and a moving average) to a PNG with ScottPlot.</summary>
public static class LossPlot
{
    public static void Write(string path, IReadOnlyList<MetricsEntry> entries, int width = 900, int height = 500)
    {
        var plt = new ScottPlot.Plot();
        if (entries.Count > 0)
        {
            double[] xs = entries.Select(e => (double)e.Step).ToArray();
            double[] ys = entries.Select(e => double.IsFinite(e.Loss) ? e.Loss : double.NaN).ToArray();
            var raw = plt.Add.ScatterLine(xs, ys);
            raw.LegendText = "loss";
            raw.LineWidth = 1;
            raw.Color = ScottPlot.Colors.SteelBlue.WithAlpha(0.35);
            int window = Math.Max(1, entries.Count / 50);
            if (window > 1)
            {
                var avg = new double[ys.Length];
                double sum = 0;
                for (int i = 0; i < ys.Length; i++)
                {
                    sum += ys[i];
                    if (i >= window) sum -= ys[i - window];
                    avg[i] = sum / Math.Min(i + 1, window);
                }
                var smooth = plt.Add.ScatterLine(xs, avg);
                smooth.LegendText = $"moving average ({window})";
                smooth.LineWidth = 2;
                smooth.Color = ScottPlot.Colors.OrangeRed;
            }
            plt.ShowLegend(ScottPlot.Alignment.UpperRight);
        }
        plt.Title("Training loss");
        plt.XLabel("step");
        plt.YLabel("loss");
        string tmp = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "." + Path.GetFileNameWithoutExtension(path) + ".tmp.png");
        plt.SavePng(tmp, width, height);
        File.Move(tmp, path, true);
    }
}
