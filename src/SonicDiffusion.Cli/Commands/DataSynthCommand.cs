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
        var worldOpt = new Option<int>("--world")
        {
            Description = "World version: 2 = each class an event on a shared backdrop, several sound recipes per class; 1 = one layout and one recipe per class (the round-2 bundle's world)",
            DefaultValueFactory = _ => WorldGenerator.CurrentWorld,
        };
        var realOpt = new Option<string?>("--real") { Description = "World 2: an audio-only manifest of real recordings (audio, label, split train|val; scripts/real-sounds.sh) to pair with scenes of their class" };
        var realPerClassOpt = new Option<int>("--real-per-class") { Description = "Rows per class for the real training clips (each clip repeated about this / the class's clip count times)", DefaultValueFactory = _ => 120 };
        foreach (var o in new Option[] { outOpt, countOpt, seedOpt, threadsOpt, previewOpt, worldOpt, realOpt, realPerClassOpt }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            ulong seed = pr.GetValue(seedOpt);
            int world = pr.GetValue(worldOpt);
            if (!WorldGenerator.Worlds.Contains(world)) throw new SonicException($"--world {world} is not one of {string.Join(", ", WorldGenerator.Worlds)}");
            if (pr.GetValue(previewOpt) is { } preview)
            {
                var png = WorldGenerator.PreviewGrid(seed, [0.05, 0.35, 0.65, 0.95], world: world);
                var full = Path.GetFullPath(preview);
                Directory.CreateDirectory(Path.GetDirectoryName(full)!);
                File.WriteAllBytes(full, png);
                Console.WriteLine($"wrote {full} ({png.Length / 1024} KiB): rows = {string.Join(", ", WorldClasses.All.Select(c => c.Label))}; columns = intensity 0.05, 0.35, 0.65, 0.95{(world == 1 ? "" : ", one backdrop per column")}");
                return 0;
            }
            var outDir = pr.GetValue(outOpt) ?? throw new SonicException("--out is required (the folder to write the world into)");
            int count = pr.GetValue(countOpt), threads = pr.GetValue(threadsOpt);
            if (threads <= 0) throw new SonicException($"--threads must be positive, got {threads}");
            var real = pr.GetValue(realOpt) is { } realPath ? RealRecordings.Read(realPath) : null;
            var summary = ConsoleProgress.Run(progress => WorldGenerator.Generate(outDir, seed, count, threads, progress, CliContext.Cancellation, world,
                real, pr.GetValue(realPerClassOpt)));
            var splits = string.Join(", ", summary.SplitCounts.Select(kv => $"{kv.Key} {kv.Value}"));
            Console.WriteLine($"wrote {summary.Count} samples of world {world} ({splits}) in {summary.Elapsed.TotalSeconds:0.0} s: {summary.ManifestPath}");
            return 0;
        });
        return cmd;
    }
}
