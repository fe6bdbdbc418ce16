using System.Text.Json.Nodes;
using SonicDiffusion.Cli;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Evaluation;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;

namespace SonicDiffusion.Tests;

/// <summary><c>sonic eval</c> and <c>sonic bench generate</c> end to end on the tiny random bundle and the 27-sample world.</summary>
[Collection("Console")]
public class EvaluationTests(SmallWorldFixture world) : IClassFixture<SmallWorldFixture>
{
    private static string WriteClassifier(string dir)
    {
        torch.manual_seed(9);
        using var c = new WorldClassifier(WorldClassifierTests.TinyModel);
        c.Save(dir, TorchSharp.torch.ScalarType.Float32);
        return dir;
    }

    private static readonly string[] Fast = ["--count", "4", "--sweep-count", "2", "--steps", "2", "--betas", "0,1", "--guidances", "1,3", "--seed", "11"];

    [Fact]
    public void EvalWritesEveryReportFile()
    {
        using var tmp = new TempDir();
        string bundle = TinySonicBundle.WriteBundle(tmp.File("bundle"));
        string classifier = WriteClassifier(tmp.File("classifier"));
        string report = tmp.File("report");
        var (code, output, err) = CliTests.Sonic(["eval", "--model", bundle, "--data", world.Summary.ManifestPath, "--out", report, "--classifier", classifier, .. Fast]);
        Assert.True(code == 0, err);
        Assert.Contains("AIC", output);
        Assert.Contains("real vs real", output);
        foreach (var f in new[] { "report.json", "report.md", "samples.png", "beta-sweep.png", "guidance-sweep.png", "intensity.png", "aic-per-class.png" })
            Assert.True(File.Exists(Path.Combine(report, f)) && new FileInfo(Path.Combine(report, f)).Length > 0, $"{f} missing");

        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(report, "report.json")))!;
        var main = json["main"]!;
        Assert.Equal(4, main["count"]!.GetValue<int>());
        Assert.True(json["has_images"]!.GetValue<bool>());
        Assert.Empty(json["skipped"]!.AsArray());
        var samples = json["samples"]!.AsArray();
        Assert.Equal(4, samples.Count);
        Assert.Equal(new long[] { 11, 12, 13, 14 }, samples.Select(s => s!["seed"]!.GetValue<long>()));
        double aic = samples.Average(s => s!["label"]!.GetValue<string>() == s["predicted"]!.GetValue<string>() ? 1.0 : 0.0);
        Assert.Equal(aic, main["aic"]!.GetValue<double>(), 12);
        Assert.Equal(samples.Average(s => s!["iis"]!.GetValue<double>()), main["iis"]!.GetValue<double>(), 12);
        Assert.Equal(4, samples.Select(s => s!["label"]!.GetValue<string>()).Distinct().Count());   // stratified: 4 classes
        Assert.Equal(4, main["fid_count"]!.GetValue<int>());
        Assert.True(main["fid"]!.GetValue<double>() >= 0 && main["fid_real_baseline"]!.GetValue<double>() >= 0);
        Assert.NotNull(main["intensity_spearman"]);
        Assert.InRange(main["mean_luminance"]!.GetValue<double>(), 0, 1);
        Assert.InRange(main["real_mean_luminance"]!.GetValue<double>(), 0, 1);
        Assert.Equal(samples.Average(x => x!["luminance"]!.GetValue<double>()), main["mean_luminance"]!.GetValue<double>(), 12);
        var byTime = main["luminance_by_time_of_day"]!.AsArray();
        Assert.Equal(samples.Select(x => x!["time_of_day"]!.GetValue<string>()).Distinct().Order(StringComparer.Ordinal), byTime.Select(g => g!["time_of_day"]!.GetValue<string>()));
        foreach (var g in byTime)
        {
            var of = samples.Where(x => x!["time_of_day"]!.GetValue<string>() == g!["time_of_day"]!.GetValue<string>()).ToList();
            Assert.Equal(of.Count, g!["count"]!.GetValue<int>());
            Assert.Equal(of.Average(x => x!["luminance"]!.GetValue<double>()), g["generated"]!.GetValue<double>(), 12);
            Assert.Equal(of.Average(x => x!["real_luminance"]!.GetValue<double>()), g["real"]!.GetValue<double>(), 12);
        }
        Assert.Equal(2, json["beta_sweep"]!.AsArray().Count);
        Assert.Equal(2, json["guidance_sweep"]!.AsArray().Count);
        Assert.Equal(2, json["beta_sweep"]![0]!["metrics"]!["count"]!.GetValue<int>());
        string md = File.ReadAllText(Path.Combine(report, "report.md"));
        Assert.Contains("## β sweep", md);
        Assert.Contains("## Guidance sweep", md);
        Assert.Contains("real vs real baseline", md);
        Assert.Contains("| time of day | n | generated | paired real |", md);
    }

    [Fact]
    public void ThreeBranchGuidanceIsUsedAndReported()
    {
        using var tmp = new TempDir();
        string bundle = TinySonicBundle.WriteBundle(tmp.File("bundle"));
        using var classifier = new WorldClassifier(WorldClassifierTests.TinyModel);
        using var model = SonicDiffusionModel.Load(bundle);
        var options = new EvaluationOptions { Count = 2, SweepCount = 0, Steps = 2, GridPerClass = 0, Prompt = "at night" };
        var joint = new WorldEvaluator(model, classifier, options).Run(world.Manifest, tmp.File("joint"));
        var three = new WorldEvaluator(model, classifier, options with { AudioGuidance = 3 }).Run(world.Manifest, tmp.File("three"));
        Assert.NotEqual(joint.Samples.Select(x => x.Luminance), three.Samples.Select(x => x.Luminance));
        Assert.Contains("three-branch guidance: text 7.5, audio 3", File.ReadAllText(tmp.File("three/report.md")));
        Assert.Throws<SonicException>(() => (options with { AudioGuidance = double.NaN }).Validate());
    }

    [Fact]
    public void EachSoundCanBeGivenItsOwnCaption()
    {
        using var tmp = new TempDir();
        string bundle = TinySonicBundle.WriteBundle(tmp.File("bundle"));
        using var classifier = new WorldClassifier(WorldClassifierTests.TinyModel);
        using var model = SonicDiffusionModel.Load(bundle);
        var options = new EvaluationOptions { Count = 2, SweepCount = 0, Steps = 2, Beta = 0, GridPerClass = 0 };
        var plain = new WorldEvaluator(model, classifier, options).Run(world.Manifest, tmp.File("plain"));
        var captioned = new WorldEvaluator(model, classifier, options with { PromptFromCaption = true }).Run(world.Manifest, tmp.File("captioned"));
        Assert.NotEqual(plain.Main.MeanLuminance, captioned.Main.MeanLuminance);
        Assert.Contains("each sound's own caption", File.ReadAllText(tmp.File("captioned/report.md")));
        Assert.True(captioned.Options.PromptFromCaption);
    }

    [Fact]
    public void LuminanceIsRec601Luma()
    {
        using var red = torch.zeros(1, 3, 4, 4);
        red[0, 0] = torch.ones(4, 4);
        using var l = WorldEvaluator.Luminance(red);
        Assert.Equal(0.299, l.item<float>(), 5);
        using var grey = torch.full(1, 3, 2, 2, 0.5f);
        using var g = WorldEvaluator.Luminance(grey);
        Assert.Equal(0.5, g.item<float>(), 5);
    }

    [Fact]
    public void AudioOnlyManifestGivesAicAndSaysWhatItSkipped()
    {
        using var tmp = new TempDir();
        string bundle = TinySonicBundle.WriteBundle(tmp.File("bundle"));
        using var classifier = new WorldClassifier(WorldClassifierTests.TinyModel);
        var m = world.Manifest;
        string csv = tmp.File("sounds.csv");
        File.WriteAllLines(csv, new[] { "audio,label,intensity" }.Concat(m.Rows.Where(r => r.Split == "test").Take(3)
            .Select(r => $"{m.AudioPath(r)},{r.Label},{r.Number("intensity")!.Value.ToString(System.Globalization.CultureInfo.InvariantCulture)}")));
        var manifest = WorldEvaluator.ReadManifest(csv);
        Assert.Empty(manifest.Issues);
        Assert.All(manifest.Rows, r => Assert.Equal("", r.Image));

        using var model = SonicDiffusionModel.Load(bundle);
        var evaluator = new WorldEvaluator(model, classifier, new EvaluationOptions { Count = 3, SweepCount = 1, Steps = 2, Betas = [0.5], Guidances = [2] });
        var report = evaluator.Run(manifest, tmp.File("report"));
        Assert.False(report.HasImages);
        Assert.True(report.HasIntensity);
        Assert.Equal(3, report.Main.Count);
        Assert.InRange(report.Main.Aic, 0, 1);
        Assert.Null(report.Main.Iis);
        Assert.Null(report.Main.Fid);
        Assert.Null(report.Main.RealAccuracy);
        Assert.Contains(report.Skipped, s => s.Figure == "IIS");
        Assert.Contains(report.Skipped, s => s.Figure == "FID-proxy");
        Assert.StartsWith("(all rows", report.Split);
        string md = File.ReadAllText(tmp.File("report/report.md"));
        Assert.Contains("Skipped figures", md);
        Assert.Contains("no image files", md);
        Assert.True(File.Exists(tmp.File("report/samples.png")));
        Assert.True(File.Exists(tmp.File("report/intensity.png")));

        Assert.InRange(report.Main.MeanLuminance, 0, 1);
        Assert.Null(report.Main.RealMeanLuminance);
        Assert.Contains("no text prompt", md);

        // A prompt reaches every generation (the images change) and is reported.
        var prompted = new WorldEvaluator(model, classifier, new EvaluationOptions { Count = 3, SweepCount = 0, Steps = 2, Prompt = "at night" })
            .Run(manifest, tmp.File("report-night"));
        Assert.Equal("at night", prompted.Options.Prompt);
        Assert.NotEqual(report.Main.MeanLuminance, prompted.Main.MeanLuminance);
        Assert.Contains("text prompt with every sound: \"at night\"", File.ReadAllText(tmp.File("report-night/report.md")));

        // Captions as prompts need a caption on every row; a prompt and captions together are refused.
        var noCaption = Assert.Throws<SonicException>(() => new WorldEvaluator(model, classifier,
            new EvaluationOptions { Count = 3, SweepCount = 0, Steps = 2, PromptFromCaption = true }).Run(manifest, tmp.File("report-caption")));
        Assert.Contains("has no caption", noCaption.Message);
        Assert.Contains(csv, noCaption.Message);
        Assert.Throws<SonicException>(() => new EvaluationOptions { Prompt = "at night", PromptFromCaption = true }.Validate());

        // The strict training reader still rejects such a manifest.
        Assert.NotEmpty(DatasetManifest.Read(csv).Issues);
    }

    [Fact]
    public void EvalAndBenchGenerateParseAndReportBadInput()
    {
        var root = SonicCommandLine.Create();
        var pr = root.Parse(["eval", "--data", "m.jsonl", "--out", "r", "--count", "7", "--betas", "0,2", "--guidance", "3"]);
        Assert.Empty(pr.Errors);
        Assert.Empty(root.Parse(["bench", "generate", "--model", "b", "--steps", "25", "--size", "128", "--repeat", "2"]).Errors);
        Assert.Empty(root.Parse(["train", "classifier", "--data", "m.jsonl", "--out", "run", "--steps", "10", "--batch", "8", "--seed", "3", "--resume"]).Errors);
        Assert.NotEmpty(root.Parse(["eval", "--out", "r"]).Errors);

        using var tmp = new TempDir();
        var (code, _, err) = CliTests.Sonic("eval", "--model", tmp.Path, "--data", world.Summary.ManifestPath, "--out", tmp.File("r"), "--betas", "0,x");
        Assert.Equal(1, code);
        Assert.Contains("--betas 0,x: 'x' is not a number", err);
        (code, _, err) = CliTests.Sonic("eval", "--model", tmp.Path, "--data", world.Summary.ManifestPath, "--out", tmp.File("r"));
        Assert.Equal(1, code);
        Assert.Contains("no evaluation classifier", err);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void TrainClassifierExportsScoresAndResumes()
    {
        using var tmp = new TempDir();
        string config = tmp.File("classifier-options.json");
        Core.ConfigJson.Write(config, WorldClassifierTests.TinyOptions);
        string[] Args(int steps, params string[] extra) => ["train", "classifier", "--data", world.Summary.ManifestPath, "--out", tmp.File("run"),
            "--cache", tmp.File("cache"), "--config", config, "--steps", steps.ToString(), "--batch", "9", "--checkpoint-every", "2", "--seed", "4", .. extra];
        var (code, output, err) = CliTests.Sonic(Args(2));
        Assert.True(code == 0, err);
        Assert.Contains("held-out accuracy", output);
        Assert.Contains("split 'test' (exported weights)", output);
        (code, output, err) = CliTests.Sonic(Args(4, "--resume"));
        Assert.True(code == 0, err);
        Assert.Contains("resumed from step 2", output);
        using var loaded = WorldClassifier.Load(tmp.File("run/classifier"));
        Assert.Equal(9, loaded.Config.Labels.Length);
        var scores = JsonNode.Parse(File.ReadAllText(tmp.File("run/scores.json")))!;
        Assert.Equal(4, scores["steps"]!.GetValue<long>());
        Assert.Equal(9, scores["count"]!.GetValue<int>());
        Assert.Equal(8, scores["per_shift"]!.AsObject().Count);
        Assert.Equal(2, File.ReadAllLines(tmp.File("run/validation.jsonl")).Length);
    }

    [Fact]
    public void BenchGenerateReportsLoadAndPerImageTimes()
    {
        using var tmp = new TempDir();
        string bundle = TinySonicBundle.WriteBundle(tmp.File("bundle"));
        var (code, output, err) = CliTests.Sonic("bench", "generate", "--model", bundle, "--steps", "2", "--size", "32", "--repeat", "1", "--profile");
        Assert.True(code == 0, err);
        Assert.Contains("model load:", output);
        Assert.Contains("profile of one generation (embedding cache cleared)", output);
        Assert.Contains("UNet calls inside the sampler", output);
        foreach (var stage in new[] { "audio encode", "sampler", "VAE decode" }) Assert.Matches($@"\n  {stage} +[0-9.]+ ms", output);
        foreach (var section in new[] { "resnet", "self-attention", "text cross-attention", "audio cross-attention", "feed-forward" })
            Assert.Matches($@"\n  {section} +[0-9.]+ ms", output);
        Assert.Contains("per image (32×32, 2 pndm steps", output);
        Assert.Contains("run 1:", output);
        Assert.Contains("audio encode", output);
    }
}
