using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using SkiaSharp;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;

namespace SonicDiffusion.Data.World;

/// <summary>What a generation run produced.</summary>
public sealed record WorldSummary(string ManifestPath, int Count, IReadOnlyDictionary<string, int> SplitCounts, TimeSpan Elapsed);

/// <summary>
/// Builds the synthetic "mini world" dataset: per sample a WAV, a PNG, a caption, a label, a split and an intensity,
/// plus <c>manifest.jsonl</c> and <c>world.json</c>. Every sample depends only on (seed, index), so output is
/// byte-identical for the same seed whatever the thread schedule, and any subset can be regenerated.
/// </summary>
public static class WorldGenerator
{
    public const string Version = "1";
    public const string ManifestName = "manifest.jsonl";
    public const string WorldFileName = "world.json";
    /// <summary>The extra manifest column naming a scene's time of day (day, dusk or night).</summary>
    public const string TimeOfDayColumn = "time_of_day";

    private const ulong ClassOrderStream = 0xC1A55, SceneStream = 0x5CE4E, SampleStream = 0x5A4D1E;
    private static readonly double[] TimeWeights = [0.45, 0.30, 0.25];

    /// <summary>
    /// The scene of sample <paramref name="index"/>. Classes are dealt in shuffled blocks of nine, so every block holds
    /// each class once; the k-th occurrence of a class goes to val when k % 10 == 1, to test when k % 10 == 2, else to
    /// train (80/10/10 per class).
    /// </summary>
    public static WorldScene Plan(ulong seed, int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        int classes = WorldClasses.Count, block = index / classes;
        var order = Enumerable.Range(0, classes).ToArray();
        WorldRandom.Derive(seed, block, ClassOrderStream).Shuffle(order);
        var cls = (WorldClass)order[index % classes];
        string split = (block % 10) switch { 1 => "val", 2 => "test", _ => "train" };
        var rng = WorldRandom.Derive(seed, index, SceneStream);
        double intensity = Math.Round(rng.NextDouble(), 3);
        var time = (TimeOfDay)rng.PickWeighted(TimeWeights);
        var setting = rng.Pick(WorldClasses.Info(cls).Settings);
        double duration = Math.Round(rng.Uniform(2, 10), 2);
        return new WorldScene(index, WorldRandom.Hash(seed, (ulong)index, SampleStream), cls, intensity, time, setting, duration, split);
    }

    public static float[] Sound(WorldScene scene) =>
        SoundSynth.Synthesize(scene.Class, scene.Intensity, scene.DurationSeconds, scene.Stream(WorldScene.AudioStream));

    public static string FileStem(int index) => index.ToString("D6", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Writes one sample's WAV and PNG under <paramref name="outDir"/> and returns its manifest row.</summary>
    public static ManifestRow GenerateSample(string outDir, WorldScene scene)
    {
        string stem = FileStem(scene.Index), audio = $"audio/{stem}.wav", image = $"images/{stem}.png";
        WavWriter.WritePcm16(Path.Combine(outDir, audio), Sound(scene), SoundSynth.SampleRate);
        WriteAtomic(Path.Combine(outDir, image), SceneRenderer.RenderPng(scene));
        return new ManifestRow
        {
            Audio = audio,
            Image = image,
            Caption = CaptionWriter.Write(scene),
            Label = scene.Info.Label,
            Split = scene.Split,
            Extra = new Dictionary<string, JsonNode?>
            {
                ["intensity"] = scene.Intensity,
                [TimeOfDayColumn] = scene.TimeOfDay.Id(),
                ["setting"] = scene.Setting.Id,
                ["duration_s"] = scene.DurationSeconds,
                ["index"] = scene.Index,
            },
        };
    }

    /// <summary>Generates samples 0..count-1 into <paramref name="outDir"/> on up to <paramref name="threads"/> threads.</summary>
    public static WorldSummary Generate(string outDir, ulong seed, int count, int threads = 2,
        IProgress<ProgressInfo>? progress = null, CancellationToken cancel = default)
    {
        if (count <= 0) throw new SonicException($"--count must be positive, got {count}");
        var clock = Stopwatch.StartNew();
        var full = Path.GetFullPath(outDir);
        PrepareOutput(full);
        var rows = new ManifestRow[count];
        int done = 0;
        var gate = new object();
        progress?.Report(new ProgressInfo("synth", 0, count));
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads), CancellationToken = cancel }, index =>
        {
            rows[index] = GenerateSample(full, Plan(seed, index));
            int n = Interlocked.Increment(ref done);
            if (progress != null) lock (gate) progress.Report(new ProgressInfo("synth", n, count));
        });
        var manifest = Path.Combine(full, ManifestName);
        DatasetManifest.Write(manifest, rows);
        var splits = ManifestRow.Splits.ToDictionary(s => s, s => rows.Count(r => r.Split == s));
        WriteAtomic(Path.Combine(full, WorldFileName), DescribeWorld(seed, count, splits));
        return new WorldSummary(manifest, count, splits, clock.Elapsed);
    }

    private static byte[] DescribeWorld(ulong seed, int count, Dictionary<string, int> splits)
    {
        var world = new JsonObject
        {
            ["generator"] = "SonicDiffusion.Data.World",
            ["version"] = Version,
            ["seed"] = seed,
            ["count"] = count,
            ["manifest"] = ManifestName,
            ["sample_rate"] = SoundSynth.SampleRate,
            ["audio"] = "mono 16-bit PCM WAV, 2-10 s",
            ["image_size"] = SceneRenderer.Size,
            ["splits"] = new JsonObject(splits.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["split_rule"] = "classes dealt in shuffled blocks of 9; the k-th occurrence of a class is val if k%10==1, test if k%10==2, else train",
            ["classes"] = new JsonArray(WorldClasses.All.Select(c => (JsonNode?)new JsonObject
            {
                ["label"] = c.Label,
                ["name"] = c.Name,
                ["settings"] = new JsonArray(c.Settings.Select(s => (JsonNode?)s.Id).ToArray()),
            }).ToArray()),
            ["extra_columns"] = new JsonObject
            {
                ["intensity"] = "0..1; drives loudness/density of the sound and the size/count of the visual element",
                [TimeOfDayColumn] = "day|dusk|night",
                ["setting"] = "the place named in the caption",
                ["duration_s"] = "sound length in seconds",
                ["index"] = "sample index; (seed, index) regenerates the sample",
            },
        };
        return JsonSerializer.SerializeToUtf8Bytes(world, new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>The output folder must be new, empty, or an earlier world (then its samples are replaced).</summary>
    private static void PrepareOutput(string dir)
    {
        if (File.Exists(dir)) throw new SonicException($"{dir}: exists and is a file, expected a folder");
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
        {
            if (!File.Exists(Path.Combine(dir, WorldFileName)))
                throw new SonicException($"{dir}: folder is not empty and holds no {WorldFileName}; choose a new or empty folder");
            foreach (var sub in new[] { "audio", "images" })
                if (Directory.Exists(Path.Combine(dir, sub))) Directory.Delete(Path.Combine(dir, sub), true);
            File.Delete(Path.Combine(dir, ManifestName));
            File.Delete(Path.Combine(dir, WorldFileName));
        }
        Directory.CreateDirectory(Path.Combine(dir, "audio"));
        Directory.CreateDirectory(Path.Combine(dir, "images"));
    }

    /// <summary>A classes × intensities grid of scenes (one row per class) as PNG bytes, for eyeballing the drawings.</summary>
    public static byte[] PreviewGrid(ulong seed, IReadOnlyList<double> intensities, int gap = 2)
    {
        int size = SceneRenderer.Size, cols = intensities.Count, rowsN = WorldClasses.Count;
        using var grid = new SKBitmap(new SKImageInfo(cols * size + (cols + 1) * gap, rowsN * size + (rowsN + 1) * gap, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using (var canvas = new SKCanvas(grid))
        {
            canvas.Clear(SKColors.White);
            for (int r = 0; r < rowsN; r++)
                for (int c = 0; c < cols; c++)
                {
                    var cls = (WorldClass)r;
                    var rng = WorldRandom.Derive(seed, r * cols + c, SceneStream);
                    var scene = new WorldScene(r * cols + c, rng.NextULong(), cls, intensities[c], (TimeOfDay)((r + c) % 3),
                        rng.Pick(WorldClasses.Info(cls).Settings), 2, "train");
                    using var bmp = SceneRenderer.Render(scene);
                    canvas.DrawBitmap(bmp, gap + c * (size + gap), gap + r * (size + gap));
                }
        }
        return SceneRenderer.EncodePng(grid);
    }

    internal static void WriteAtomic(string path, byte[] bytes)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var tmp = path + ".tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, true);
    }
}
