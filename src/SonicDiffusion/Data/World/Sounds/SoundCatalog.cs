using System.Diagnostics;
using System.Globalization;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>One rendered clip of the catalogue: its recipe id, intensity, file (relative to the folder) and descriptors.</summary>
public sealed record SoundCatalogClip(string Recipe, double Intensity, string File, SoundFeatures Features, double SynthSeconds);

/// <summary>
/// Renders every recipe of every class at a few intensities into a folder of WAVs (to listen to and to inspect as
/// spectrograms) and measures each clip; <see cref="TableFileName"/> lists them.
/// </summary>
public static class SoundCatalog
{
    public const string TableFileName = "sounds.tsv";

    public static IReadOnlyList<SoundCatalogClip> Write(string outDir, ulong seed, IReadOnlyList<double> intensities, double seconds,
        IProgress<ProgressInfo>? progress = null, CancellationToken cancel = default)
    {
        if (intensities.Count == 0 || intensities.Any(v => v is < 0 or > 1 || double.IsNaN(v)))
            throw new SonicException($"intensities must lie in [0, 1], got {string.Join(", ", intensities)}");
        if (seconds is <= 0 or > 60 || double.IsNaN(seconds)) throw new SonicException($"clip length must be in (0, 60] seconds, got {seconds}");
        Directory.CreateDirectory(outDir);
        var jobs = (from cls in Enum.GetValues<WorldClass>()
                    from recipe in Enumerable.Range(0, SoundSynth.RecipeCount(cls))
                    from level in Enumerable.Range(0, intensities.Count)
                    select (cls, recipe, level)).ToList();
        var clips = new List<SoundCatalogClip>(jobs.Count);
        progress?.Report(new ProgressInfo("sounds", 0, jobs.Count));
        foreach (var (cls, recipe, level) in jobs)
        {
            cancel.ThrowIfCancellationRequested();
            string id = SoundSynth.RecipeName(cls, recipe);
            double intensity = intensities[level];
            var rng = WorldRandom.Derive(seed, (int)cls * 100 + recipe, (ulong)level + 1);
            var clock = Stopwatch.StartNew();
            var samples = SoundSynth.Synthesize(cls, recipe, intensity, seconds, rng);
            double synth = clock.Elapsed.TotalSeconds;
            string file = $"{id.Replace('/', '.')}.i{intensity.ToString("0.00", CultureInfo.InvariantCulture)}.wav";
            WavWriter.WritePcm16(Path.Combine(outDir, file), samples, SoundSynth.SampleRate);
            clips.Add(new SoundCatalogClip(id, intensity, file, SoundFeatures.Measure(samples, SoundSynth.SampleRate), synth));
            progress?.Report(new ProgressInfo("sounds", clips.Count, jobs.Count, id));
        }
        var lines = new List<string> { "recipe\tintensity\tfile\tcentroid_hz\tflatness\tcrest_db\tonsets_per_s\trms_dbfs\tlevel_spread_db\tsynth_s" };
        lines.AddRange(clips.Select(c => string.Join('\t', c.Recipe, F(c.Intensity), c.File, F(c.Features.CentroidHz, "0"), F(c.Features.Flatness, "0.000"), F(c.Features.CrestDb, "0.0"),
            F(c.Features.OnsetsPerSecond, "0.0"), F(c.Features.RmsDb, "0.0"), F(c.Features.LevelSpreadDb, "0.0"), F(c.SynthSeconds, "0.000"))));
        File.WriteAllLines(Path.Combine(outDir, TableFileName), lines);
        return clips;
    }

    private static string F(double v, string format = "0.00") => v.ToString(format, CultureInfo.InvariantCulture);
}
