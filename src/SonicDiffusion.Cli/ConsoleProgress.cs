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
    public static T Run<T>(Func<IProgress<ProgressInfo>, T> work)
    {
        if (!CliContext.Interactive) return work(new PlainLines());
        T result = default!;
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx => { result = work(new Bars(ctx)); });
        return result;
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
