using System.CommandLine;
using System.Globalization;
using SonicDiffusion.Core;
using SonicDiffusion.Data.World.Sounds;

namespace SonicDiffusion.Cli.Commands;

/// <summary><c>sonic data sounds</c>: renders every sound recipe of the world to WAVs and prints each recipe's descriptors.</summary>
public static class DataSoundsCommand
{
    public static Command Create()
    {
        var cmd = new Command("sounds", "Render every sound recipe of the synthetic world at a few intensities (WAVs + sounds.tsv) and print their descriptors");
        var outOpt = new Option<string>("--out") { Description = "Output folder for the WAVs and sounds.tsv" };
        var seedOpt = new Option<ulong>("--seed") { Description = "Seed; the same seed gives the same clips", DefaultValueFactory = _ => 1 };
        var secondsOpt = new Option<double>("--seconds") { Description = "Length of each clip", DefaultValueFactory = _ => 5 };
        var levelsOpt = new Option<string>("--intensities") { Description = "Comma-separated intensities in [0, 1]", DefaultValueFactory = _ => "0.2,0.8" };
        foreach (var o in new Option[] { outOpt, seedOpt, secondsOpt, levelsOpt }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            var outDir = pr.GetValue(outOpt) ?? throw new SonicException("--out is required (the folder to write the clips into)");
            var levels = pr.GetValue(levelsOpt)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s =>
                double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw new SonicException($"--intensities: '{s}' is not a number")).ToList();
            var clips = ConsoleProgress.Run(progress => SoundCatalog.Write(outDir, pr.GetValue(seedOpt), levels, pr.GetValue(secondsOpt), progress, CliContext.Cancellation));
            Console.WriteLine($"{"recipe",-36} {"int",5} {"centroid",9} {"flat",6} {"crest",6} {"onset/s",8} {"dBFS",6} {"spread",7}");
            foreach (var c in clips)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{c.Recipe,-36} {c.Intensity,5:0.00} {c.Features.CentroidHz,9:0} {c.Features.Flatness,6:0.000} {c.Features.CrestDb,6:0.0} {c.Features.OnsetsPerSecond,8:0.0} {c.Features.RmsDb,6:0.0} {c.Features.LevelSpreadDb,7:0.0}"));
            Console.WriteLine($"wrote {clips.Count} clips and {SoundCatalog.TableFileName} to {Path.GetFullPath(outDir)}");
            return 0;
        });
        return cmd;
    }
}
