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
    /// <summary>The world drawn when none is named: 2, classes as events on shared backdrops with several sound recipes.</summary>
    public const int CurrentWorld = 2;
    public static readonly IReadOnlyList<int> Worlds = [1, 2];
    public const string ManifestName = "manifest.jsonl";
    public const string WorldFileName = "world.json";
    /// <summary>The extra manifest column naming a scene's time of day (day, dusk or night).</summary>
    public const string TimeOfDayColumn = "time_of_day";

    /// <summary>The extra manifest column naming the sound recipe that made a clip (e.g. "fire_crackling/roar").</summary>
    public const string RecipeColumn = "recipe";
    /// <summary>The extra manifest column that is true for clips of a recipe kept out of training (all of them in test).</summary>
    public const string HeldOutRecipeColumn = "recipe_held_out";
    /// <summary>World 2: the share of clips made by each class's held-out recipe (the last one); they all go to test.</summary>
    public const double HeldOutRecipeShare = 0.08;

    private const ulong ClassOrderStream = 0xC1A55, SceneStream = 0x5CE4E, SampleStream = 0x5A4D1E, BackdropPlanStream = 0xBAC4D, RecipeStream = 0x4EC1BE;
    private static readonly double[] TimeWeights = [0.45, 0.30, 0.25];

    /// <summary>
    /// The scene of sample <paramref name="index"/>. Classes are dealt in shuffled blocks of nine, so every block holds
    /// each class once; the k-th occurrence of a class goes to val when k % 10 == 1, to test when k % 10 == 2, else to
    /// train (80/10/10 per class). World 2 also draws a backdrop independently of the class and one of the class's sound
    /// recipes; clips of the held-out recipe (the class's last) go to test whatever their block.
    /// </summary>
    public static WorldScene Plan(ulong seed, int index, int world = CurrentWorld)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        if (!Worlds.Contains(world)) throw new SonicException($"--world {world} is not one of {string.Join(", ", Worlds)}");
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
        var scene = new WorldScene(index, WorldRandom.Hash(seed, (ulong)index, SampleStream), cls, intensity, time, setting, duration, split);
        if (world == 1) return scene;
        var backdrop = SceneBackdrop.Sample(WorldRandom.Derive(seed, index, BackdropPlanStream));
        // The held-out draw comes first and does not depend on how many recipes a class has, so splits (and with them
        // every image-side cache) stay the same when recipes are added.
        var recipeRng = WorldRandom.Derive(seed, index, RecipeStream);
        bool heldOut = recipeRng.Chance(HeldOutRecipeShare);
        int recipes = SoundSynth.RecipeCount(cls);
        int recipe = recipes == 1 ? 0 : heldOut ? recipes - 1 : recipeRng.Next(recipes - 1);
        if (heldOut) split = "test";
        return scene with { World = 2, Backdrop = backdrop, Setting = backdrop.ToSetting(), Recipe = recipe, Split = split };
    }

    /// <summary>Whether world 2 keeps this recipe out of training (the class's last, when it has more than one).</summary>
    public static bool IsHeldOutRecipe(WorldClass cls, int recipe) => SoundSynth.RecipeCount(cls) > 1 && recipe == SoundSynth.RecipeCount(cls) - 1;

    public static float[] Sound(WorldScene scene) =>
        SoundSynth.Synthesize(scene.Class, scene.Recipe, scene.Intensity, scene.DurationSeconds, scene.Stream(WorldScene.AudioStream));

    public static string FileStem(int index) => index.ToString("D6", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Writes one sample's WAV and PNG under <paramref name="outDir"/> and returns its manifest row.</summary>
    public static ManifestRow GenerateSample(string outDir, WorldScene scene)
    {
        string stem = FileStem(scene.Index), audio = $"audio/{stem}.wav", image = $"images/{stem}.png";
        WavWriter.WritePcm16(Path.Combine(outDir, audio), Sound(scene), SoundSynth.SampleRate);
        WriteAtomic(Path.Combine(outDir, image), SceneRenderer.RenderPng(scene), keepIdentical: true);
        var extra = new Dictionary<string, JsonNode?>
        {
            ["intensity"] = scene.Intensity,
            [TimeOfDayColumn] = scene.TimeOfDay.Id(),
            ["setting"] = scene.Setting.Id,
            ["duration_s"] = scene.DurationSeconds,
            ["index"] = scene.Index,
        };
        if (scene.Backdrop is { } b)
        {
            extra["world"] = scene.World;
            extra[RecipeColumn] = SoundSynth.RecipeName(scene.Class, scene.Recipe);
            extra[HeldOutRecipeColumn] = IsHeldOutRecipe(scene.Class, scene.Recipe);
            extra["overcast"] = b.Overcast;
        }
        return new ManifestRow
        {
            Audio = audio,
            Image = image,
            Caption = CaptionWriter.Write(scene),
            Label = scene.Info.Label,
            Split = scene.Split,
            Extra = extra,
        };
    }

    /// <summary>
    /// Generates samples 0..count-1 into <paramref name="outDir"/> on up to <paramref name="threads"/> threads. With
    /// <paramref name="real"/> (world 2 only) every real recording is paired with world scenes of its class after them:
    /// a training clip with about <paramref name="realPerClass"/>/n scenes (n = its class's training clips, so classes
    /// with few real clips are not drowned out), a validation clip with one.
    /// </summary>
    public static WorldSummary Generate(string outDir, ulong seed, int count, int threads = 2,
        IProgress<ProgressInfo>? progress = null, CancellationToken cancel = default, int world = CurrentWorld,
        IReadOnlyList<RealRecording>? real = null, int realPerClass = 120)
    {
        if (count <= 0) throw new SonicException($"--count must be positive, got {count}");
        if (!Worlds.Contains(world)) throw new SonicException($"--world {world} is not one of {string.Join(", ", Worlds)}");
        if (real is { Count: > 0 } && world == 1) throw new SonicException("--real needs --world 2 (world 1 has one layout per class and no real recordings)");
        if (realPerClass < 1) throw new SonicException($"--real-per-class must be positive, got {realPerClass}");
        var clock = Stopwatch.StartNew();
        var full = Path.GetFullPath(outDir);
        PrepareOutput(full);
        var pairs = real is { Count: > 0 } ? PairReal(seed, count, real, realPerClass) : [];
        var copies = CopyReal(full, pairs.Select(p => p.Clip).Distinct().ToList());
        int total = count + pairs.Count;
        var rows = new ManifestRow[total];
        int done = 0;
        var gate = new object();
        progress?.Report(new ProgressInfo("synth", 0, total));
        Parallel.For(0, total, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads), CancellationToken = cancel }, index =>
        {
            rows[index] = index < count ? GenerateSample(full, Plan(seed, index, world)) : GenerateRealSample(full, pairs[index - count], copies);
            int n = Interlocked.Increment(ref done);
            if (progress != null) lock (gate) progress.Report(new ProgressInfo("synth", n, total));
        });
        RemoveStale(full, rows);
        var manifest = Path.Combine(full, ManifestName);
        DatasetManifest.Write(manifest, rows);
        var splits = ManifestRow.Splits.ToDictionary(s => s, s => rows.Count(r => r.Split == s));
        var described = DescribeWorld(seed, count, splits, world, pairs);
        WriteAtomic(Path.Combine(full, WorldFileName), described);
        return new WorldSummary(manifest, total, splits, clock.Elapsed);
    }

    /// <summary>The scenes real recordings are paired with, in a fixed order (class, split, file), from index <paramref name="first"/> on.</summary>
    private static List<(WorldScene Scene, RealRecording Clip)> PairReal(ulong seed, int first, IReadOnlyList<RealRecording> real, int perClass)
    {
        var pairs = new List<(WorldScene, RealRecording)>();
        int index = first;
        foreach (var group in real.GroupBy(r => r.Class).OrderBy(g => g.Key))
        {
            var train = group.Where(r => r.Split == "train").OrderBy(r => r.AudioPath, StringComparer.Ordinal).ToList();
            int repeats = train.Count == 0 ? 0 : Math.Clamp((int)Math.Round(perClass / (double)train.Count), 1, 64);
            foreach (var clip in train)
                for (int k = 0; k < repeats; k++) pairs.Add((RealScene(seed, index++, clip), clip));
            foreach (var clip in group.Where(r => r.Split == "val").OrderBy(r => r.AudioPath, StringComparer.Ordinal))
                pairs.Add((RealScene(seed, index++, clip), clip));
        }
        return pairs;
    }

    private static WorldScene RealScene(ulong seed, int index, RealRecording clip) =>
        Plan(seed, index, 2) with { Class = clip.Class, Split = clip.Split, Recipe = -1 };

    /// <summary>Copies each real recording once into audio/real/ (name: class, file name and a hash of its path); returns the relative paths.</summary>
    private static Dictionary<RealRecording, string> CopyReal(string dir, IReadOnlyList<RealRecording> clips)
    {
        var copies = new Dictionary<RealRecording, string>();
        if (clips.Count == 0) return copies;
        Directory.CreateDirectory(Path.Combine(dir, "audio", "real"));
        foreach (var clip in clips)
        {
            if (!File.Exists(clip.AudioPath)) throw new SonicException($"{clip.AudioPath}: real recording not found");
            string hash = WorldRandom.Hash(0, 0, (ulong)StableHash(clip.AudioPath)).ToString("x16")[..8];
            string name = $"audio/real/{WorldClasses.Info(clip.Class).Label}-{Path.GetFileNameWithoutExtension(clip.AudioPath)}-{hash}{Path.GetExtension(clip.AudioPath)}";
            WriteAtomic(Path.Combine(dir, name), File.ReadAllBytes(clip.AudioPath), keepIdentical: true);
            copies[clip] = name;
        }
        return copies;
    }

    private static long StableHash(string text)
    {
        ulong h = 1469598103934665603UL;
        foreach (char c in text) h = (h ^ c) * 1099511628211UL;
        return (long)h;
    }

    /// <summary>A real recording's row: its copied audio, the paired scene's picture and caption, its provenance.</summary>
    private static ManifestRow GenerateRealSample(string outDir, (WorldScene Scene, RealRecording Clip) pair, Dictionary<RealRecording, string> copies)
    {
        var (scene, clip) = pair;
        string image = $"images/{FileStem(scene.Index)}.png";
        WriteAtomic(Path.Combine(outDir, image), SceneRenderer.RenderPng(scene), keepIdentical: true);
        var extra = new Dictionary<string, JsonNode?>
        {
            [TimeOfDayColumn] = scene.TimeOfDay.Id(),
            ["setting"] = scene.Setting.Id,
            ["index"] = scene.Index,
            ["world"] = 2,
            [RecipeColumn] = $"real/{clip.Provenance.GetValueOrDefault("source_package")?.ToString() ?? "unknown"}",
            [HeldOutRecipeColumn] = false,
            ["real"] = true,
        };
        foreach (var (key, value) in clip.Provenance)
            if (!extra.ContainsKey(key) && key is not ("duration_s" or "intensity")) extra[key] = value?.DeepClone();
        return new ManifestRow { Audio = copies[clip], Image = image, Caption = CaptionWriter.Write(scene), Label = scene.Info.Label, Split = scene.Split, Extra = extra };
    }

    private static byte[] DescribeWorld(ulong seed, int count, Dictionary<string, int> splits, int worldVersion,
        List<(WorldScene Scene, RealRecording Clip)> real)
    {
        var world = new JsonObject
        {
            ["generator"] = "SonicDiffusion.Data.World",
            ["version"] = worldVersion.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["world"] = worldVersion,
            ["seed"] = seed,
            ["count"] = count,
            ["manifest"] = ManifestName,
            ["sample_rate"] = SoundSynth.SampleRate,
            ["audio"] = "mono 16-bit PCM WAV, 2-10 s",
            ["image_size"] = SceneRenderer.Size,
            ["splits"] = new JsonObject(splits.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["split_rule"] = "classes dealt in shuffled blocks of 9; the k-th occurrence of a class is val if k%10==1, test if k%10==2, else train"
                + (worldVersion == 1 ? "" : "; clips of a class's held-out recipe (its last) are test whatever their block"),
            ["classes"] = new JsonArray(WorldClasses.All.Select(c => (JsonNode?)new JsonObject
            {
                ["label"] = c.Label,
                ["name"] = c.Name,
                ["settings"] = worldVersion == 1 ? new JsonArray(c.Settings.Select(s => (JsonNode?)s.Id).ToArray()) : "any backdrop",
                ["recipes"] = worldVersion == 1 ? new JsonArray(SoundSynth.RecipeName(c.Class, 0))
                    : new JsonArray(Enumerable.Range(0, SoundSynth.RecipeCount(c.Class)).Select(r => (JsonNode?)SoundSynth.RecipeName(c.Class, r)).ToArray()),
                ["held_out_recipe"] = worldVersion == 1 || SoundSynth.RecipeCount(c.Class) == 1 ? null : SoundSynth.RecipeName(c.Class, SoundSynth.RecipeCount(c.Class) - 1),
            }).ToArray()),
            ["real_clips"] = real.Count == 0 ? null : new JsonObject(real.GroupBy(p => p.Clip.Class).OrderBy(g => g.Key).Select(g => KeyValuePair.Create(
                WorldClasses.Info(g.Key).Label, (JsonNode?)new JsonObject
                {
                    ["train_clips"] = g.Where(p => p.Clip.Split == "train").Select(p => p.Clip).Distinct().Count(),
                    ["val_clips"] = g.Count(p => p.Clip.Split == "val"),
                    ["rows"] = g.Count(),
                }))),
            ["extra_columns"] = new JsonObject
            {
                ["intensity"] = "0..1; drives loudness/density of the sound and the size/count of the visual element",
                [TimeOfDayColumn] = "day|dusk|night",
                ["setting"] = worldVersion == 1 ? "the place named in the caption" : "the backdrop: ground-water-far layer",
                ["world"] = "world version (2 only)",
                [RecipeColumn] = "class/recipe of the sound synthesiser that made the clip (world 2)",
                [HeldOutRecipeColumn] = "true when that recipe is kept out of training (world 2)",
                ["overcast"] = "whether the backdrop's sky is overcast (world 2)",
                ["real"] = "true for a real recording paired with a scene of its class (its recipe is real/<package>; provenance columns follow)",
                ["duration_s"] = "sound length in seconds",
                ["index"] = "sample index; (seed, index) regenerates the sample",
            },
        };
        return JsonSerializer.SerializeToUtf8Bytes(world, new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>
    /// The output folder must be new, empty, or an earlier world (then its samples are replaced; images that come out
    /// byte-identical are left untouched, so caches keyed on their modification time stay valid).
    /// </summary>
    private static void PrepareOutput(string dir)
    {
        if (File.Exists(dir)) throw new SonicException($"{dir}: exists and is a file, expected a folder");
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
        {
            if (!File.Exists(Path.Combine(dir, WorldFileName)))
                throw new SonicException($"{dir}: folder is not empty and holds no {WorldFileName}; choose a new or empty folder");
            File.Delete(Path.Combine(dir, ManifestName));
            File.Delete(Path.Combine(dir, WorldFileName));
        }
        Directory.CreateDirectory(Path.Combine(dir, "audio"));
        Directory.CreateDirectory(Path.Combine(dir, "images"));
    }

    /// <summary>Deletes the audio and image files an earlier, larger world left that this one did not write.</summary>
    private static void RemoveStale(string dir, IReadOnlyList<ManifestRow> rows)
    {
        var written = rows.SelectMany(r => new[] { r.Audio, r.Image }).Select(p => Path.GetFullPath(Path.Combine(dir, p))).ToHashSet(StringComparer.Ordinal);
        foreach (var sub in new[] { "audio", "images" })
            foreach (var file in Directory.EnumerateFiles(Path.Combine(dir, sub)))
                if (!written.Contains(Path.GetFullPath(file))) File.Delete(file);
    }

    /// <summary>
    /// A classes × intensities grid of scenes (one row per class) as PNG bytes, for eyeballing the drawings. In world 2
    /// every row shares the column's backdrop, so a column shows the nine events on one backdrop.
    /// </summary>
    public static byte[] PreviewGrid(ulong seed, IReadOnlyList<double> intensities, int gap = 2, int world = CurrentWorld)
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
                    WorldScene scene;
                    if (world == 1)
                    {
                        var rng = WorldRandom.Derive(seed, r * cols + c, SceneStream);
                        scene = new WorldScene(r * cols + c, rng.NextULong(), cls, intensities[c], (TimeOfDay)((r + c) % 3),
                            rng.Pick(WorldClasses.Info(cls).Settings), 2, "train");
                    }
                    else
                    {
                        var rng = WorldRandom.Derive(seed, c, BackdropPlanStream);
                        var backdrop = SceneBackdrop.Sample(rng);
                        scene = new WorldScene(c, rng.NextULong(), cls, intensities[c], (TimeOfDay)(c % 3), backdrop.ToSetting(), 2, "train", 2, backdrop);
                    }
                    using var bmp = SceneRenderer.Render(scene);
                    canvas.DrawBitmap(bmp, gap + c * (size + gap), gap + r * (size + gap));
                }
        }
        return SceneRenderer.EncodePng(grid);
    }

    internal static void WriteAtomic(string path, byte[] bytes, bool keepIdentical = false)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        if (keepIdentical && File.Exists(path) && new FileInfo(path).Length == bytes.Length && File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes)) return;
        var tmp = path + ".tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, path, true);
    }
}
