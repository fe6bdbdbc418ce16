using System.Text.Json.Nodes;
using SonicDiffusion.Cli;
using SonicDiffusion.Evaluation;
using SonicDiffusion.Imaging;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;

namespace SonicDiffusion.Tests;

/// <summary><c>sonic eval edit</c> end to end on the tiny random bundle and the 27-sample world, with a random tiny classifier.</summary>
[Collection("Console")]
public class EditEvaluationTests(SmallWorldFixture world) : IClassFixture<SmallWorldFixture>
{
    private static string WriteClassifier(string dir)
    {
        torch.manual_seed(9);
        using var c = new WorldClassifier(WorldClassifierTests.TinyModel);
        c.Save(dir, torch.ScalarType.Float32);
        return dir;
    }

    [Fact]
    public void EvalEditWritesTheReportWithOneRowPerFraction()
    {
        using var tmp = new TempDir();
        string bundle = TinySonicBundle.WriteBundle(tmp.File("bundle"));
        string classifier = WriteClassifier(tmp.File("classifier"));
        string report = tmp.File("report");
        var (code, output, err) = CliTests.Sonic("eval", "edit", "--model", bundle, "--data", world.Summary.ManifestPath, "--out", report,
            "--classifier", classifier, "--count", "3", "--sounds", "2", "--fractions", "0.5,0.8,1.0", "--steps", "2", "--seed", "5",
            "--sheet-scenes", "2", "--threads", "1");
        Assert.True(code == 0, err);
        Assert.Contains("3 scenes, 3 inversions", output);
        Assert.Contains("f 0.8: class switch", output);
        foreach (var f in new[] { "report.json", "report.md", "edit-sheet.png", "edit-rates.png" })
            Assert.True(File.Exists(Path.Combine(report, f)) && new FileInfo(Path.Combine(report, f)).Length > 0, $"{f} missing");

        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(report, "report.json")))!;
        Assert.Equal(3, json["scenes"]!.GetValue<int>());
        Assert.Equal(3, json["inversions"]!.GetValue<int>());
        var rows = json["rows"]!.AsArray();
        Assert.Equal(new[] { 0.5, 0.8, 1.0 }, rows.Select(r => r!["fraction"]!.GetValue<double>()));
        var edits = json["edits"]!.AsArray();
        Assert.Equal(3 * 2 * 3, edits.Count);
        double ssimThreshold = json["options"]!["ssim_threshold"]!.GetValue<double>(), edgeThreshold = json["options"]!["edge_threshold"]!.GetValue<double>();
        Assert.Equal(0.45, ssimThreshold);
        foreach (var e in edits)
        {
            Assert.NotEqual(e!["scene_label"]!.GetValue<string>(), e["sound_label"]!.GetValue<string>());
            double ssim = e["ssim"]!.GetValue<double>(), edge = e["edge_f1"]!.GetValue<double>();
            Assert.InRange(ssim, -1, 1);
            Assert.InRange(edge, 0, 1);
            Assert.Equal(e["predicted"]!.GetValue<string>() == e["sound_label"]!.GetValue<string>(), e["switched"]!.GetValue<bool>());
            Assert.Equal(ssim >= ssimThreshold, e["ssim_kept"]!.GetValue<bool>());
            Assert.Equal(edge >= edgeThreshold, e["edge_kept"]!.GetValue<bool>());
        }
        // Each scene gets 2 sounds of distinct other classes, the same at every fraction.
        foreach (var scene in edits.GroupBy(e => e!["image"]!.GetValue<string>()))
        {
            var sounds = scene.Select(e => e!["audio"]!.GetValue<string>()).ToList();
            Assert.Equal(2, sounds.Distinct().Count());
            Assert.Equal(2, scene.Select(e => e!["sound_label"]!.GetValue<string>()).Distinct().Count());
        }
        foreach (var r in rows)
        {
            double f = r!["fraction"]!.GetValue<double>();
            var mine = edits.Where(e => e!["fraction"]!.GetValue<double>() == f).ToList();
            Assert.Equal(6, r["count"]!.GetValue<int>());
            double Rate(Func<JsonNode, bool> p) => mine.Average(e => p(e!) ? 1.0 : 0.0);
            Assert.Equal(Rate(e => e["switched"]!.GetValue<bool>()), r["switch_rate"]!.GetValue<double>(), 12);
            Assert.Equal(mine.Average(e => e!["ssim"]!.GetValue<double>()), r["ssim_mean"]!.GetValue<double>(), 12);
            Assert.Equal(mine.Average(e => e!["edge_f1"]!.GetValue<double>()), r["edge_f1_mean"]!.GetValue<double>(), 12);
            Assert.Equal(Rate(e => e["switched"]!.GetValue<bool>() && e["ssim_kept"]!.GetValue<bool>() && e["edge_kept"]!.GetValue<bool>()),
                r["success_rate"]!.GetValue<double>(), 12);
            Assert.Equal(r["success_rate"]!.GetValue<double>() >= 0.8, r["meets_target"]!.GetValue<bool>());
        }

        // The baseline: the classifier's own-class rate on the three source scenes, recomputed here.
        using var judge = WorldClassifier.Load(classifier);
        var sources = edits.Select(e => e!["image"]!.GetValue<string>()).Distinct().ToList();
        double own = sources.Average(img =>
        {
            var label = edits.First(e => e!["image"]!.GetValue<string>() == img)!["scene_label"]!.GetValue<string>();
            using var image = ImageTensor.Load(world.Manifest.Resolve(img));
            using var o = judge.Predict(image);
            return judge.Config.Labels[o.Logits[0].argmax().item<long>()] == label ? 1.0 : 0.0;
        });
        Assert.Equal(own, json["source_class_rate"]!.GetValue<double>(), 12);
        var vae = json["vae_round_trip"]!;
        Assert.Equal(3, vae["count"]!.GetValue<int>());
        Assert.InRange(vae["ssim_mean"]!.GetValue<double>(), -1, 1);
        Assert.Equal(3, json["unrelated"]!["count"]!.GetValue<int>());

        // Sheet: 2 scenes × (source + 3 fractions × 2 sounds), 128-px tiles under 38-px captions, 2-px gaps.
        using (var sheet = ImageTensor.Load(Path.Combine(report, "edit-sheet.png")))
            Assert.Equal(new long[] { 1, 3, 2 * (128 + 38 + 2), 7 * (128 + 2) }, sheet.shape);
        string md = File.ReadAllText(Path.Combine(report, "report.md"));
        Assert.Contains("## Edits by injection fraction", md);
        Assert.Equal(3, md.Split('\n').Count(l => l.StartsWith("| 0.5 |") || l.StartsWith("| 0.8 |") || l.StartsWith("| 1 |")));
        Assert.Contains("VAE round trip", md);
        Assert.Contains("## By class (all fractions pooled)", md);
        foreach (var label in edits.Select(e => e!["scene_label"]!.GetValue<string>()).Distinct())
        {
            var from = edits.Where(e => e!["scene_label"]!.GetValue<string>() == label).ToList();
            double both = from.Average(e => e!["switched"]!.GetValue<bool>() && e["ssim_kept"]!.GetValue<bool>() ? 1.0 : 0.0);
            Assert.Contains(md.Split('\n'), l => l.StartsWith($"| {label} | {from.Count} | ") && l.Split(" | ")[4] == both.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture));
        }
        Assert.Contains("PnP sites: features of `up_blocks.1.resnets.1` (official rule)", md);
        Assert.Equal(["up_blocks.1.resnets.1"], json["feature_sites"]!.AsArray().Select(n => n!.GetValue<string>()));
    }

    [Fact]
    public void TextBaselineRepeatsEachEditWithThePromptAndNoSound()
    {
        using var tmp = new TempDir();
        string bundle = TinySonicBundle.WriteBundle(tmp.File("bundle"));
        string classifier = WriteClassifier(tmp.File("classifier"));
        string report = tmp.File("report");
        var (code, output, err) = CliTests.Sonic("eval", "edit", "--model", bundle, "--data", world.Summary.ManifestPath, "--out", report,
            "--classifier", classifier, "--count", "2", "--sounds", "1", "--fractions", "0.8", "--steps", "2", "--seed", "5",
            "--sheet-scenes", "0", "--threads", "1", "--text-baseline", "a photo of {label}");
        Assert.True(code == 0, err);
        Assert.Contains("text baseline f 0.8: class switch", output);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(report, "report.json")))!;
        var edits = json["edits"]!.AsArray();
        var text = json["text_baseline_edits"]!.AsArray();
        Assert.Equal(2, edits.Count);
        // Same scenes and targets as the audio edits, in the same order.
        string Key(JsonNode e) => $"{e["image"]} {e["sound_label"]} {e["fraction"]}";
        Assert.Equal(edits.Select(e => Key(e!)), text.Select(e => Key(e!)));
        var row = json["text_baseline_rows"]!.AsArray().Single()!;
        Assert.Equal(2, row["count"]!.GetValue<int>());
        Assert.Equal(text.Average(e => e!["switched"]!.GetValue<bool>() && e["ssim_kept"]!.GetValue<bool>() && e["edge_kept"]!.GetValue<bool>() ? 1.0 : 0.0),
            row["success_rate"]!.GetValue<double>(), 12);

        // The baseline edit is the text-only PnP edit a user gets from the pipeline: no sound, β 0, the class in words.
        var first = text[0]!;
        string label = first["sound_label"]!.GetValue<string>();
        using var model = SonicDiffusion.Pipelines.SonicDiffusionModel.Load(bundle);
        var pipeline = new SonicDiffusion.Pipelines.ImageEditPipeline(model);
        var req = new SonicDiffusion.Pipelines.ImageEditRequest
        {
            Image = world.Manifest.Resolve(first["image"]!.GetValue<string>()), Prompt = $"a photo of {label.Replace('_', ' ')}", Beta = 0, Steps = 2,
            FeatureInjection = 0.8, AttnInjection = 0.8, Seed = 5, Fit = ImageFit.Resize,
        };
        using var source = pipeline.Prepare(req.Image, ImageFit.Resize);
        using var edited = pipeline.Edit(req);
        Assert.Equal(Ssim.Compute(source.Image, edited), first["ssim"]!.GetValue<double>(), 9);
        var audioEdit = edits[0]!;
        Assert.NotEqual(audioEdit["ssim"]!.GetValue<double>(), first["ssim"]!.GetValue<double>());

        string md = File.ReadAllText(Path.Combine(report, "report.md"));
        Assert.Contains("## Text-only PnP baseline (prompt \"a photo of {label}\", no sound, β 0)", md);
        Assert.Contains("| f | audio: switch ∧ both kept | text: switch ∧ both kept |", md);
    }

    [Fact]
    public void ShardedEditEvaluationMergesToTheUnshardedRates()
    {
        using var tmp = new TempDir();
        string bundle = TinySonicBundle.WriteBundle(tmp.File("bundle"));
        string classifier = WriteClassifier(tmp.File("classifier"));
        string[] Args(string outDir, params string[] more) => ["eval", "edit", "--model", bundle, "--data", world.Summary.ManifestPath, "--out", outDir,
            "--classifier", classifier, "--count", "3", "--sounds", "2", "--fractions", "0.5,1", "--steps", "2", "--seed", "5", "--threads", "1",
            "--text-baseline", "a photo of {label}", .. more];
        var (code, output, err) = CliTests.Sonic(Args(tmp.File("whole")));
        Assert.True(code == 0, err + output);
        for (int i = 0; i < 2; i++)
        {
            (code, output, err) = CliTests.Sonic(Args(tmp.File("shards"), "--shard", $"{i}/2"));
            Assert.True(code == 0, err + output);
            Assert.Contains($"of 3 scenes; when every shard is done: sonic eval merge", output);
        }
        (code, output, err) = CliTests.Sonic("eval", "merge", tmp.File("shards"));
        Assert.True(code == 0, err + output);
        Assert.Contains("edit: 3 items from 2 shard(s)", output);

        var report = JsonNode.Parse(File.ReadAllText(tmp.File("whole/report.json")))!;
        var merged = JsonNode.Parse(File.ReadAllText(tmp.File("shards/merged.json")))!["scores"]!;
        double M(string score) => merged[score]!["mean"]!.GetValue<double>();
        foreach (var (rowsKey, prefix) in new[] { ("rows", ""), ("text_baseline_rows", "text.") })
            foreach (var row in report[rowsKey]!.AsArray())
            {
                string f = prefix + "f" + row!["fraction"]!.GetValue<double>().ToString("R", System.Globalization.CultureInfo.InvariantCulture) + ".";
                Assert.Equal(row["success_rate"]!.GetValue<double>(), M(f + "success"), 12);
                Assert.Equal(row["switch_rate"]!.GetValue<double>(), M(f + "switch"), 12);
                Assert.Equal(row["ssim_mean"]!.GetValue<double>(), M(f + "ssim"), 12);
                Assert.Equal(row["edge_kept_rate"]!.GetValue<double>(), M(f + "edge_kept"), 12);
                Assert.Equal(row["switch_and_ssim_kept_rate"]!.GetValue<double>(), M(f + "switch_ssim_kept"), 12);
                Assert.Equal(3, merged[f + "success"]!["count"]!.GetValue<int>());
            }
        Assert.Equal(report["source_class_rate"]!.GetValue<double>(), M("source_class"), 12);
        Assert.Equal(report["vae_round_trip"]!["ssim_mean"]!.GetValue<double>(), M("vae_ssim"), 12);

        // A re-run of a finished shard skips its scenes; a merge with a shard missing names it.
        (code, output, err) = CliTests.Sonic(Args(tmp.File("shards"), "--shard", "1/2"));
        Assert.True(code == 0, err + output);
        Assert.Contains("1 of 3 scenes, 1 already done (skipped)", err);
        File.Delete(tmp.File("shards/shard-1-of-2.json"));
        (code, _, err) = CliTests.Sonic("eval", "merge", tmp.File("shards"));
        Assert.Equal(1, code);
        Assert.Contains("missing shard 1 of 2", err);
    }

    [Fact]
    public void EvalEditParsesAndReportsBadInputOnOneLine()
    {
        var root = SonicCommandLine.Create();
        Assert.Empty(root.Parse(["eval", "edit", "--data", "m.jsonl", "--out", "r", "--fractions", "0.5,1", "--count", "3", "--sounds", "3",
            "--steps", "10", "--seed", "2", "--threads", "1", "--classifier", "c", "--model", "b"]).Errors);
        Assert.Empty(root.Parse(["eval", "--data", "m.jsonl", "--out", "r", "--count", "7"]).Errors);   // plain eval unchanged
        Assert.NotEmpty(root.Parse(["eval", "edit", "--out", "r"]).Errors);
        Assert.NotEmpty(root.Parse(["eval", "edit", "--data", "m.jsonl", "--out", "r", "--betas", "0,1"]).Errors);   // eval's options stay eval's

        using var tmp = new TempDir();
        string bundle = TinySonicBundle.WriteBundle(tmp.File("bundle"));
        string[] Args(params string[] extra) => ["eval", "edit", "--model", bundle, "--data", world.Summary.ManifestPath, "--out", tmp.File("r"), .. extra];
        var (code, _, err) = CliTests.Sonic(Args());
        Assert.Equal(1, code);
        Assert.Contains("no evaluation classifier", err);
        Assert.Single(err.Trim().Split('\n'));
        string classifier = WriteClassifier(tmp.File("classifier"));
        (code, _, err) = CliTests.Sonic(Args("--classifier", classifier, "--fractions", "0.5,1.5"));
        Assert.Equal(1, code);
        Assert.Contains("--fractions: 1.5 must be between 0 and 1", err);
        Assert.Single(err.Trim().Split('\n'));
        (code, _, err) = CliTests.Sonic(Args("--classifier", classifier, "--fractions", "-0.1"));
        Assert.Equal(1, code);
        Assert.Contains("must be between 0 and 1", err);
        (code, _, err) = CliTests.Sonic(Args("--classifier", classifier, "--fractions", "0.5,x"));
        Assert.Equal(1, code);
        Assert.Contains("--fractions 0.5,x: 'x' is not a number", err);
        (code, _, err) = CliTests.Sonic(Args("--classifier", classifier, "--feature-sites", "up_blocks.4.resnets.0"));
        Assert.Equal(1, code);
        Assert.Contains("--feature-sites 'up_blocks.4.resnets.0': not a decoder resnet", err);
        Assert.Single(err.Trim().Split('\n'), l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", err);
        (code, _, err) = CliTests.Sonic(Args("--classifier", classifier, "--text-baseline", "a photo"));
        Assert.Equal(1, code);
        Assert.Contains("--text-baseline \"a photo\": the prompt template must contain {label}", err);
        Assert.Single(err.Trim().Split('\n'));
        (code, _, err) = CliTests.Sonic(Args("--classifier", tmp.File("nowhere")));
        Assert.Equal(1, code);
        Assert.Contains("nowhere: no evaluation classifier", err);
        Assert.False(Directory.Exists(tmp.File("r")));
    }
}
