using System.Text.Json.Nodes;
using SonicDiffusion.Imaging;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;

namespace SonicDiffusion.Tests;

/// <summary>A tiny bundle with an evaluation classifier, the 27-sample world, and a generation manifest over its sounds.</summary>
public sealed class ShardedJobFixture : IDisposable
{
    public TempDir Dir { get; } = RepoPaths.NewTemp();
    public string Bundle { get; }
    public string Classifier { get; }
    public SmallWorldFixture World { get; } = new();
    /// <summary>7 rows: sounds of the world, one with its own prompt, one with its own seed, one with a label.</summary>
    public string GenerateManifest { get; }
    /// <summary>The world's test rows and two others: the DATA of the scale-out recipes (every row generated, the test rows evaluated).</summary>
    public string RecipeManifest { get; }
    private readonly Lazy<string> _unsharded;
    /// <summary>The recipes' commands run once unsharded on <see cref="RecipeManifest"/> (folders images/ and eval/), made on first use.</summary>
    public string Unsharded => _unsharded.Value;

    public ShardedJobFixture()
    {
        Bundle = TinySonicBundle.WriteBundle(Dir.File("bundle"));
        torch.manual_seed(9);
        Classifier = Path.Combine(Bundle, "classifier");                 // where a bundle keeps it (the recipes give no --classifier)
        using (var c = new Evaluation.WorldClassifier(WorldClassifierTests.TinyModel)) c.Save(Classifier, torch.ScalarType.Float32);
        var rows = World.Manifest.Rows.Take(7).Select((r, i) =>
        {
            var o = new JsonObject { ["audio"] = World.Manifest.AudioPath(r) };
            if (i == 1) o["prompt"] = "a beach";
            if (i == 2) o["seed"] = 1234;
            if (i == 3) o["label"] = r.Label;
            return o.ToJsonString();
        });
        GenerateManifest = Dir.File("gen.jsonl");
        File.WriteAllLines(GenerateManifest, rows);
        RecipeManifest = Path.Combine(World.Manifest.BaseDirectory, "recipes.jsonl");
        _unsharded = new(() =>
        {
            ScaleOutRecipes.RunUnsharded(Bundle, RecipeManifest, Dir.File("unsharded"));
            return Dir.File("unsharded");
        });
        Data.DatasetManifest.Write(RecipeManifest, World.Manifest.Rows.Where(r => r.Split == "test").Concat(World.Manifest.Rows.Where(r => r.Split != "test").Take(2)));
    }

    public void Dispose()
    {
        World.Dispose();
        Dir.Dispose();
    }
}

/// <summary><c>sonic generate --data</c> and <c>sonic eval</c> split into shards, resumed, and merged: the same images and figures as one unsharded run.</summary>
[Collection("Console")]
public class ShardedJobTests(ShardedJobFixture f) : IClassFixture<ShardedJobFixture>
{
    private string[] Generate(string outDir, params string[] more) =>
        ["generate", "--model", f.Bundle, "--data", f.GenerateManifest, "--out", outDir, "--steps", "2", "--scheduler", "ddim", "--seed", "5", .. more];

    private static Dictionary<string, byte[]> Pixels(string dir) =>
        Directory.GetFiles(dir, "*.png").ToDictionary(p => Path.GetFileName(p), p =>
        {
            using var t = ImageTensor.Load(p);
            return t.data<float>().ToArray().SelectMany(BitConverter.GetBytes).ToArray();
        });

    /// <summary>
    /// The merged AIC, IIS, luminance, ρ, FID-proxy and its baseline equal the unsharded report's main figures: exactly
    /// (12 places) when the shards ran in this process; to float32 round-off (<paramref name="scoreTolerance"/>,
    /// <paramref name="fidRelative"/>) when they ran as separate processes, whose per-item classifier features come
    /// from other batch compositions (oneDNN's blocking depends on the batch; measured 2·10⁻⁸ on IIS). AIC, a count of
    /// agreements, stays exact either way.
    /// </summary>
    internal static void AssertMergedEqualsReport(string reportJson, string mergedJson, double scoreTolerance = 1e-12, double fidRelative = 1e-9)
    {
        var report = JsonNode.Parse(File.ReadAllText(reportJson))!["main"]!;
        var merged = JsonNode.Parse(File.ReadAllText(mergedJson))!;
        double M(string score) => merged["scores"]![score]!["mean"]!.GetValue<double>();
        Assert.Equal(report["count"]!.GetValue<int>(), merged["scores"]!["aic"]!["count"]!.GetValue<int>());
        Assert.Equal(report["aic"]!.GetValue<double>(), M("aic"), 12);
        Assert.Equal(report["iis"]!.GetValue<double>(), M("iis"), scoreTolerance);
        Assert.Equal(report["mean_luminance"]!.GetValue<double>(), M("luminance"), scoreTolerance);
        Assert.Equal(report["intensity_spearman"]!.GetValue<double>(), merged["correlations"]!["intensity_spearman"]!.GetValue<double>(), scoreTolerance);
        int fidCount = report["fid_count"]!.GetValue<int>();
        Assert.True(fidCount >= 2, $"FID-proxy over {fidCount} samples");
        Assert.Equal(fidCount, merged["feature_counts"]!["generated"]!.GetValue<long>());
        double fid = report["fid"]!.GetValue<double>(), baseline = report["fid_real_baseline"]!.GetValue<double>();
        Assert.Equal(fid, merged["fid"]!["fid"]!.GetValue<double>(), fidRelative * Math.Max(1, fid));
        Assert.Equal(baseline, merged["fid"]!["fid_real_baseline"]!.GetValue<double>(), fidRelative * Math.Max(1, baseline));
    }

    /// <summary>Both folders hold the same PNG names with identical pixels.</summary>
    internal static void AssertSamePixels(string expectedDir, string actualDir)
    {
        var expected = Pixels(expectedDir);
        var actual = Pixels(actualDir);
        Assert.NotEmpty(expected);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, px) in expected) Assert.True(px.SequenceEqual(actual[name]), $"{name} differs between {expectedDir} and {actualDir}");
    }

    [Fact]
    public void ShardedGenerationMakesTheSameFilesAndPixelsAsOneRunAndResumes()
    {
        using var tmp = new TempDir();
        var (code, output, err) = CliTests.Sonic(Generate(tmp.File("whole")));
        Assert.True(code == 0, err + output);
        Assert.Contains("wrote 7 image(s)", output);
        for (int i = 0; i < 3; i++)
        {
            (code, output, err) = CliTests.Sonic(Generate(tmp.File("sharded"), "--shard", $"{i}/3"));
            Assert.True(code == 0, err + output);
            Assert.Contains($"shard {i}/3 (--shard)", output);
        }
        AssertSamePixels(tmp.File("whole"), tmp.File("sharded"));
        var whole = Pixels(tmp.File("whole"));
        Assert.Equal(7, whole.Count);
        Assert.Contains("00003-" + f.World.Manifest.Rows[3].Label + "-", string.Join(",", whole.Keys));

        var names = whole.Keys.Order().ToList();
        var meta = PngText.Read(Path.Combine(tmp.File("sharded"), names[2]));
        Assert.Equal("1234", meta["seed"]);                                          // the row's own seed
        Assert.Equal("a beach", PngText.Read(Path.Combine(tmp.File("sharded"), names[1]))["prompt"]);
        Assert.Equal("9", PngText.Read(Path.Combine(tmp.File("sharded"), names[4]))["seed"]);   // --seed 5 + row 4

        // A rerun skips finished rows; a lost image (a shard killed before it) is made again, with the same pixels.
        File.Delete(Path.Combine(tmp.File("sharded"), names[4]));
        (code, output, err) = CliTests.Sonic(Generate(tmp.File("sharded"), "--shard", "1/3"));
        Assert.True(code == 0, err + output);
        Assert.Contains("wrote 1 image(s)", output);
        Assert.Contains("1 already there", output);
        Assert.True(Pixels(tmp.File("sharded"))[names[4]].SequenceEqual(whole[names[4]]));
        // Other settings are not "finished": the same rows are made again.
        (code, output, err) = CliTests.Sonic(Generate(tmp.File("sharded"), "--shard", "0/3", "--guidance", "3"));
        Assert.True(code == 0, err + output);
        Assert.Contains("wrote 3 image(s)", output);
        Assert.True(File.Exists(tmp.File("sharded/generate-0-of-3.done.jsonl")));
    }

    [Fact]
    public void ShardedEditingMakesTheSameFilesAndPixelsAsOneRunAndResumes()
    {
        using var tmp = new TempDir();
        var w = f.World.Manifest;
        var scenes = w.Rows.Take(4).ToList();
        var rows = new[]
        {
            new JsonObject { ["image"] = w.ImagePath(scenes[0]), ["audio"] = w.AudioPath(scenes[1]) },
            new JsonObject { ["image"] = w.ImagePath(scenes[1]), ["audio"] = w.AudioPath(scenes[2]), ["label"] = scenes[2].Label },
            new JsonObject { ["image"] = w.ImagePath(scenes[0]), ["audio"] = w.AudioPath(scenes[3]), ["seed"] = 77 },   // same photo, other shard
            new JsonObject { ["image"] = w.ImagePath(scenes[2]), ["prompt"] = "a snowy field" },                         // text-only PnP
        };
        string pairs = tmp.File("pairs.jsonl");
        File.WriteAllLines(pairs, rows.Select(r => r.ToJsonString()));
        string[] Edit(string outDir, params string[] more) =>
            ["edit", "--model", f.Bundle, "--data", pairs, "--out", outDir, "--steps", "2", "--seed", "5", .. more];

        var (code, output, err) = CliTests.Sonic(Edit(tmp.File("whole"), "--no-cache"));
        Assert.True(code == 0, err + output);
        Assert.Contains("wrote 4 edit(s)", output);
        for (int i = 0; i < 3; i++)
        {
            (code, output, err) = CliTests.Sonic(Edit(tmp.File("sharded"), "--shard", $"{i}/3", "--cache", tmp.File("inversions")));
            Assert.True(code == 0, err + output);
            Assert.Contains($"shard {i}/3 (--shard)", output);
        }
        AssertSamePixels(tmp.File("whole"), tmp.File("sharded"));
        var names = Pixels(tmp.File("whole")).Keys.Order().ToList();
        Assert.Equal(4, names.Count);
        string Stem(string p) => Path.GetFileNameWithoutExtension(p);
        Assert.Equal($"00001-{scenes[2].Label}-{Stem(scenes[1].Image)}-{Stem(scenes[2].Audio)}.png", names[1]);
        Assert.EndsWith("-text.png", names[3]);
        var meta = PngText.Read(Path.Combine(tmp.File("sharded"), names[3]));
        Assert.Equal("pnp-text", meta["edit_mode"]);
        Assert.Equal("a snowy field", meta["prompt"]);
        Assert.Equal("77", PngText.Read(Path.Combine(tmp.File("sharded"), names[2]))["seed"]);
        Assert.Equal("6", PngText.Read(Path.Combine(tmp.File("sharded"), names[1]))["seed"]);   // --seed 5 + row 1
        Assert.Equal("pnp-audio", PngText.Read(Path.Combine(tmp.File("sharded"), names[0]))["edit_mode"]);

        // A rerun skips finished rows and remakes a lost one with the same pixels; the shard's done-list records each row once.
        File.Delete(Path.Combine(tmp.File("sharded"), names[3]));
        (code, output, err) = CliTests.Sonic(Edit(tmp.File("sharded"), "--shard", "0/3", "--cache", tmp.File("inversions")));
        Assert.True(code == 0, err + output);
        Assert.Contains("wrote 1 edit(s)", output);
        Assert.Contains("1 already there", output);
        AssertSamePixels(tmp.File("whole"), tmp.File("sharded"));
        Assert.Equal(3, File.ReadAllLines(tmp.File("sharded/edit-0-of-3.done.jsonl")).Length);

        // Bad input: one line naming the option or row.
        (code, _, err) = CliTests.Sonic(Edit(tmp.File("o"), "--shard", "3/3"));
        Assert.Equal(1, code);
        Assert.Contains("--shard 3/3: shard index 3 is out of range 0..2", err);
        (code, _, err) = CliTests.Sonic(["edit", "--model", f.Bundle, "--data", pairs, "--image", w.ImagePath(scenes[0]), "--out", tmp.File("o")]);
        Assert.Equal(1, code);
        Assert.Contains("give --image (a photo or a folder of photos) or --data (a manifest of edits), one of them", err);
        (code, _, err) = CliTests.Sonic(["edit", "--model", f.Bundle, "--image", w.ImagePath(scenes[0]), "--audio", w.AudioPath(scenes[1]), "--shard", "0/2"]);
        Assert.Equal(1, code);
        Assert.Contains("they do not apply to --image", err);
        File.AppendAllText(pairs, new JsonObject { ["image"] = w.ImagePath(scenes[3]) }.ToJsonString() + "\n");
        (code, output, err) = CliTests.Sonic(Edit(tmp.File("whole"), "--no-cache"));
        Assert.Equal(1, code);
        Assert.Contains("4 already there, 1 failed", output);
        Assert.Contains("line 5: no audio and no prompt", err);
    }

    [Theory]
    [InlineData("--shard", "3/3", "--shard 3/3: shard index 3 is out of range 0..2")]
    [InlineData("--shard", "0/0", "--shard 0/0: the shard count must be at least 1")]
    [InlineData("--shards", "2", "--shards 2: no shard index")]
    public void BadShardIsOneLineNamingTheValue(string option, string value, string message)
    {
        using var tmp = new TempDir();
        var (code, _, err) = CliTests.Sonic(Generate(tmp.File("o"), option, value));
        Assert.NotEqual(0, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => !l.StartsWith("note: ", StringComparison.Ordinal));
        Assert.Equal("error: " + message, line.Split(" (")[0].Trim());
    }

    [Fact]
    public void ShardedEvaluationMergesToTheUnshardedFigures()
    {
        using var tmp = new TempDir();
        string[] common = ["eval", "--model", f.Bundle, "--classifier", f.Classifier, "--data", f.World.Summary.ManifestPath, "--count", "5", "--steps", "2", "--seed", "11", "--sweep-count", "0"];
        var (code, output, err) = CliTests.Sonic([.. common, "--out", tmp.File("whole")]);
        Assert.True(code == 0, err + output);
        for (int i = 0; i < 3; i++)
        {
            (code, output, err) = CliTests.Sonic([.. common, "--out", tmp.File("shards"), "--shard", $"{i}/3"]);
            Assert.True(code == 0, err + output);
        }
        (code, output, err) = CliTests.Sonic("eval", "merge", tmp.File("shards"));
        Assert.True(code == 0, err + output);
        Assert.Contains("from 3 shard(s)", output);
        AssertMergedEqualsReport(tmp.File("whole/report.json"), tmp.File("shards/merged.json"));

        // A rerun of a finished shard measures nothing again; a merge with a shard missing says which.
        (code, output, err) = CliTests.Sonic([.. common, "--out", tmp.File("shards"), "--shard", "1/3"]);
        Assert.True(code == 0, err + output);
        Assert.Contains("already done (skipped)", err);
        File.Delete(tmp.File("shards/shard-2-of-3.json"));
        (code, _, err) = CliTests.Sonic("eval", "merge", tmp.File("shards"));
        Assert.NotEqual(0, code);
        Assert.Contains("missing shard 2 of 3", err);
        // The same shard with other settings does not reuse the done-list.
        (code, _, err) = CliTests.Sonic([.. common[..^4], "--seed", "12", "--sweep-count", "0", "--out", tmp.File("shards"), "--shard", "1/3"]);
        Assert.NotEqual(0, code);
        Assert.Contains("made with other settings (options.seed: 12 vs 11)", err);
    }
}
