using System.CommandLine;
using SonicDiffusion.Core;
using SonicDiffusion.Data.World;

namespace SonicDiffusion.Cli.Commands;

/// <summary><c>sonic data synth</c>: generates the procedural "mini world" dataset (sounds, pictures, captions, manifest).</summary>
public static class DataSynthCommand
{
    public static Command Create()
    {
        var cmd = new Command("synth", "Generate the synthetic 9-class world (WAV + PNG + caption per sample, manifest.jsonl, world.json)");
        var outOpt = new Option<string>("--out") { Description = "Output folder (new, empty, or an earlier world to replace)" };
        var countOpt = new Option<int>("--count") { Description = "Number of samples", DefaultValueFactory = _ => 1000 };
        var seedOpt = new Option<ulong>("--seed") { Description = "World seed; the same seed gives byte-identical files", DefaultValueFactory = _ => 0 };
        var threadsOpt = new Option<int>("--threads") { Description = "Worker threads", DefaultValueFactory = _ => 2 };
        var previewOpt = new Option<string?>("--preview") { Description = "Instead of a dataset, write a classes x intensities grid PNG of scenes to this file" };
        foreach (var o in new Option[] { outOpt, countOpt, seedOpt, threadsOpt, previewOpt }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ulong seed = pr.GetValue(seedOpt);
            if (pr.GetValue(previewOpt) is { } preview)
            {
                var png = WorldGenerator.PreviewGrid(seed, [0.05, 0.35, 0.65, 0.95]);
                var full = Path.GetFullPath(preview);
                Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                File.WriteAllBytes(full, png);
                Console.WriteLine($"wrote {full} ({png.Length / 1024} KiB): rows = {string.Join(", ", WorldClasses.All.Select(c => c.Label))}; columns = intensity 0.05, 0.35, 0.65, 0.95");
                return 0;
            }
            var outDir = pr.GetValue(outOpt) ?? throw new SonicException("--out is required (the folder to write the world into)");
            int count = pr.GetValue(countOpt), threads = pr.GetValue(threadsOpt);
            if (threads <= 0) throw new SonicException($"--threads must be positive, got {threads}");
            var summary = ConsoleProgress.Run(progress => WorldGenerator.Generate(outDir, seed, count, threads, progress, CliContext.Cancellation));
            var splits = string.Join(", ", summary.SplitCounts.Select(kv => $"{kv.Key} {kv.Value}"));
            Console.WriteLine($"wrote {summary.Count} samples ({splits}) in {summary.Elapsed.TotalSeconds:0.0} s: {summary.ManifestPath}");
            return 0;
        });
        return cmd;
    }
}
