using System.Diagnostics;

namespace SonicDiffusion.Diagnostics;

/// <summary>Wall-clock timings of repeated runs: warm-up runs are discarded, best and median are reported.</summary>
public sealed record Timing(IReadOnlyList<double> Milliseconds)
{
    public double Best => Milliseconds.Min();
    public double Median
    {
        get
        {
            var s = Milliseconds.Order().ToArray();
            return s.Length % 2 == 1 ? s[s.Length / 2] : (s[s.Length / 2 - 1] + s[s.Length / 2]) / 2;
        }
    }

    public static Timing Measure(Action run, int warmup, int repeat, Action<int, double>? onRun = null)
    {
        for (int i = 0; i < warmup; i++) run();
        var ms = new List<double>();
        for (int i = 0; i < repeat; i++)
        {
            var sw = Stopwatch.StartNew();
            run();
            ms.Add(sw.Elapsed.TotalMilliseconds);
            onRun?.Invoke(i, ms[^1]);
        }
        return new Timing(ms);
    }
}
