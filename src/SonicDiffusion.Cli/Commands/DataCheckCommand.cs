using System.CommandLine;
using SonicDiffusion.Data;

namespace SonicDiffusion.Cli.Commands;

/// <summary><c>sonic data check MANIFEST</c>: every bad row (missing, unreadable or corrupt files) and the class balance; exit code 1 when any row is bad.</summary>
public static class DataCheckCommand
{
    public static Command Create()
    {
        var manifestArg = new Argument<string>("manifest") { Description = "Dataset manifest (.jsonl or .csv)" };
        var threads = new Option<int>("--threads") { Description = "Worker threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var max = new Option<int>("--max-problems") { Description = "Problems listed (all are counted)", DefaultValueFactory = _ => 50 };
        var cmd = new Command("check", "Check a dataset manifest: missing, unreadable or corrupt audio/image files (all rows) and class balance per split");
        cmd.Arguments.Add(manifestArg);
        cmd.Options.Add(threads);
        cmd.Options.Add(max);
        cmd.SetAction(pr =>
        {
            var manifest = DatasetManifest.Read(pr.GetValue(manifestArg)!);
            var report = ConsoleProgress.Run(p => DatasetCheck.Run(manifest, pr.GetValue(threads), p, CliContext.Cancellation));
            foreach (var p in report.Problems.Take(pr.GetValue(max))) Console.WriteLine(p);
            if (report.Problems.Count > pr.GetValue(max)) Console.WriteLine($"... and {report.Problems.Count - pr.GetValue(max)} more");
            foreach (var (split, counts) in report.ClassCounts)
            {
                int total = counts.Values.Sum();
                Console.WriteLine($"{split}: {total} rows, {counts.Count} classes: " + string.Join(", ", counts.Select(kv => $"{kv.Key} {kv.Value} ({100.0 * kv.Value / total:0.0}%)")));
                if (counts.Count > 1 && counts.Values.Max() > 4 * counts.Values.Min())
                    Console.WriteLine($"{split}: imbalanced (largest class {counts.Values.Max()}, smallest {counts.Values.Min()})");
            }
            int badRows = report.Problems.Select(p => p.Line).Distinct().Count();
            Console.WriteLine(report.Ok
                ? $"{report.Manifest}: {report.GoodRows} rows, all files readable"
                : $"{report.Manifest}: {badRows} bad row(s) ({report.Problems.Count} problem(s)), {report.GoodRows} good; training skips the bad ones");
            return report.Ok ? 0 : 1;
        });
        return cmd;
    }
}
