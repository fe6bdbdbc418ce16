using System.Diagnostics;
using SonicDiffusion.Core;
using Spectre.Console;

namespace SonicDiffusion.Cli;

/// <summary>
/// Shows library progress: Spectre.Console bars on an interactive terminal, plain throttled lines when output is
/// redirected (logs, CI, pipes).
/// </summary>
public static class ConsoleProgress
{
    /// <summary>The stage under which first-use convolution checks (<see cref="ConvolutionVerdicts"/>) show while they run.</summary>
    public const string KernelCheckStage = "checking kernels against float64 (first use of these shapes here)";

    public static T Run<T>(Func<IProgress<ProgressInfo>, T> work)
    {
        if (!CliContext.Interactive) return WithKernelChecks(new Serialized(new PlainLines()), work);
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx => { result = WithKernelChecks(new Serialized(new Bars(ctx)), work); });
        return result;
    }

    /// <summary>
    /// Runs <paramref name="work"/> while new convolution verdicts show as a progress line (shapes checked so far; the
    /// count is not known in advance: shapes are checked on their first call), then says in one line what the checks
    /// cost and where the verdicts are kept, so a slow first run on a machine explains itself.
    /// </summary>
    private static T WithKernelChecks<T>(IProgress<ProgressInfo> progress, Func<IProgress<ProgressInfo>, T> work)
    {
        int count = 0;
        double ms = 0;
        var gate = new object();
        void OnChecked(ConvolutionVerdict v)
        {
            lock (gate)
            {
                count++;
                ms += v.CheckMilliseconds;
            }
            progress.Report(new ProgressInfo(KernelCheckStage, count, 0, v.Shape));
        }
        ConvolutionVerdicts.Checked += OnChecked;
        try { return work(progress); }
        finally
        {
            ConvolutionVerdicts.Checked -= OnChecked;
            if (count > 0)
                Console.Error.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"note: checked {count} convolution shape{(count == 1 ? "" : "s")} against float64 ({ms / 1000:0.0} s, once per shape on this machine; verdicts kept in {ConvolutionVerdicts.FilePath})"));
        }
    }

    /// <summary>Reports from several threads (the guidance branches run side by side) one at a time.</summary>
    private sealed class Serialized(IProgress<ProgressInfo> inner) : IProgress<ProgressInfo>
    {
        private readonly Lock _gate = new();

        public void Report(ProgressInfo p)
        {
            lock (_gate) inner.Report(p);
        }
    }

    private sealed class Bars(ProgressContext ctx) : IProgress<ProgressInfo>
    {
        private readonly Dictionary<string, ProgressTask> _tasks = new();

        public void Report(ProgressInfo p)
        {
            if (!_tasks.TryGetValue(p.Stage, out var task))
            {
                task = ctx.AddTask(Markup.Escape(p.Stage), maxValue: Math.Max(1, p.Total));
                if (p.Total == 0) task.IsIndeterminate = true;
                _tasks[p.Stage] = task;
            }
            if (p.Total > 0)
            {
                task.MaxValue = p.Total;
                task.Value = p.Step;
            }
            task.Description = Markup.Escape(p.Detail is null ? p.Stage : $"{p.Stage} {p.Detail}");
            if (p.Total > 0 && p.Step >= p.Total) task.StopTask();
        }
    }

    private sealed class PlainLines : IProgress<ProgressInfo>
    {
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private readonly Dictionary<string, (TimeSpan Start, TimeSpan Last)> _stages = new();

        public void Report(ProgressInfo p)
        {
            var now = _clock.Elapsed;
            bool first = !_stages.TryGetValue(p.Stage, out var s);
            if (first) s = (now, TimeSpan.Zero);
            bool last = p.Total > 0 && p.Step >= p.Total;
            if (!first && !last && (now - s.Last).TotalSeconds < 2) return;
            _stages[p.Stage] = (s.Start, now);
            var elapsed = (now - s.Start).TotalSeconds;
            var rate = p.Step > 0 && elapsed > 0 ? $" {p.Step / elapsed:0.00} it/s" : "";
            var total = p.Total > 0 ? $"/{p.Total}" : "";
            var detail = p.Detail is null ? "" : " " + p.Detail;
            Console.WriteLine($"[{p.Stage}] {p.Step}{total}{rate} {elapsed:0.0}s{detail}");
        }
    }
}
