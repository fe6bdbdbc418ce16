using System.Text.Json.Nodes;
using SonicDiffusion.Evaluation;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>
/// The paper protocol end to end (fixtures of kind <c>paper_eval</c>: official evaluation.py's pairing and ranking on
/// the tiny CLIP / Wav2CLIP / Inception fixtures), the seeded reference sets, and the ranking rule.
/// </summary>
[Collection("Console")]
public class PaperEvalTests
{
    public static TheoryData<string> Cases => GoldenFixture.CaseIds("paper_eval");

    /// <summary>An HF-style CLIP folder for the fixture's tiny model (its text heads are not width/64, so config.json names them).</summary>
    private static string ClipFolder(GoldenFixture f, string dir)
    {
        var clip = GoldenFixture.All.Single(g => g.Folder == Path.GetFullPath(Path.Combine(f.Folder, (string)f.Config["clip"]!)));
        Directory.CreateDirectory(dir);
        File.Copy(clip.PathOf("model.safetensors"), Path.Combine(dir, "model.safetensors"), true);
        var cfg = new JsonObject
        {
            ["text_config"] = new JsonObject { ["num_attention_heads"] = clip.ConfigInt("transformer_heads") },
            ["vision_config"] = new JsonObject { ["num_attention_heads"] = clip.ConfigInt("vision_heads") },
        };
        File.WriteAllText(Path.Combine(dir, "config.json"), cfg.ToJsonString());
        return dir;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void CliScoresMatchTheOfficialCode(string id)
    {
        var (f, c) = GoldenFixture.Resolve(id);
        var tmp = Directory.CreateTempSubdirectory("paper-eval-").FullName;
        try
        {
            string clip = ClipFolder(f, Path.Combine(tmp, "clip"));
            string outDir = Path.Combine(tmp, "out");
            var (code, stdout, err) = CliTests.Sonic("eval", "--protocol", "paper", "--data", f.PathOf((string)f.Config["manifest"]!),
                "--images", f.PathOf((string)f.Config["images"]!), "--refs", f.PathOf((string)f.Config["refs"]!),
                "--clip-l14", clip, "--clip-b32", clip, "--wav2clip", f.PathOf((string)f.Config["wav2clip"]!),
                "--inception", f.PathOf((string)f.Config["inception"]!), "--out", outDir, "--embedding-cache", Path.Combine(tmp, "cache"));
            Assert.True(code == 0, err + stdout);
            var items = File.ReadAllLines(Path.Combine(outDir, "scores.jsonl")).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
            var classes = ((JsonArray)f.Config["classes"]!).Select(x => (string)x!).ToList();
            var report = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, "paper-report.json")))!.AsObject();
            using var ais = torch.tensor(items.Select(i => (double)i["ais"]!).ToArray());
            using var iis = torch.tensor(items.Select(i => (double)i["iis"]!).ToArray());
            using var predicted = torch.tensor(items.Select(i => (long)classes.IndexOf((string)i["predicted"]!)).ToArray());
            using var means = torch.tensor(new[] { (double)report["ais"]!, (double)report["iis"]!, (double)report["aic"]!, (double)report["fid"]! });
            c.AssertAll(new Dictionary<string, Tensor> { ["ais"] = ais, ["iis"] = iis, ["predicted"] = predicted, ["means"] = means }, requireAllOutputs: false);
            Assert.Equal(["generated/gen_00.png", "generated/gen_01.png", "generated/gen_02.png", "generated/gen_03.png"],
                items.Select(i => Path.GetRelativePath(f.Folder, (string)i["image"]!).Replace('\\', '/')));
            Assert.True(File.Exists(Path.Combine(outDir, "fid-generated.safetensors")));
        }
        finally
        {
            Directory.Delete(tmp, true);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ShardedRunMergesToTheUnshardedScores(string id)
    {
        var (f, _) = GoldenFixture.Resolve(id);
        var tmp = Directory.CreateTempSubdirectory("paper-shards-").FullName;
        try
        {
            string clip = ClipFolder(f, Path.Combine(tmp, "clip"));
            string[] Args(string outDir, params string[] more) => ["eval", "--protocol", "paper", "--data", f.PathOf((string)f.Config["manifest"]!),
                "--images", f.PathOf((string)f.Config["images"]!), "--refs", f.PathOf((string)f.Config["refs"]!),
                "--clip-l14", clip, "--clip-b32", clip, "--wav2clip", f.PathOf((string)f.Config["wav2clip"]!),
                "--inception", f.PathOf((string)f.Config["inception"]!), "--out", outDir, "--embedding-cache", Path.Combine(tmp, "cache"), .. more];
            var (code, stdout, err) = CliTests.Sonic(Args(Path.Combine(tmp, "whole")));
            Assert.True(code == 0, err + stdout);
            for (int i = 0; i < 3; i++)
            {
                (code, stdout, err) = CliTests.Sonic(Args(Path.Combine(tmp, "shards"), "--shard", $"{i}/3"));
                Assert.True(code == 0, err + stdout);
                Assert.Contains("of 4 images; when every shard is done", stdout);
            }
            (code, stdout, err) = CliTests.Sonic("eval", "merge", Path.Combine(tmp, "shards"));
            Assert.True(code == 0, err + stdout);
            Assert.Contains("paper: 4 items from 3 shard(s)", stdout);
            var report = JsonNode.Parse(File.ReadAllText(Path.Combine(tmp, "whole", "paper-report.json")))!;
            var merged = JsonNode.Parse(File.ReadAllText(Path.Combine(tmp, "shards", "merged.json")))!;
            foreach (var score in new[] { "ais", "iis", "aic" })
                Assert.Equal((double)report[score]!, (double)merged["scores"]![score]!["mean"]!, 9);
            double fid = (double)report["fid"]!;
            Assert.Equal(fid, (double)merged["fid"]!["fid"]!, 1e-9 * Math.Max(1, fid));
            Assert.Equal(4, (long)merged["feature_counts"]!["inception_generated"]!);
            // Per item: the shard's scores are the unsharded scores.jsonl line of the same image.
            var items = File.ReadAllLines(Path.Combine(tmp, "whole", "scores.jsonl")).Select(l => JsonNode.Parse(l)!).ToList();
            var done = Directory.GetFiles(Path.Combine(tmp, "shards"), "shard-*-of-3.items.jsonl").SelectMany(File.ReadAllLines)
                .Select(l => JsonNode.Parse(l)!).Where(n => n["key"]!.GetValue<string>() != "settings").ToDictionary(n => (int)n["index"]!);
            Assert.Equal(4, done.Count);
            foreach (var item in items)
            {
                var mine = done[(int)item["index"]!]!;
                Assert.Equal((string)item["image"]!, (string)mine["image"]!);
                Assert.Equal((double)item["ais"]!, (double)mine["scores"]!["ais"]!, 9);
                Assert.Equal((string)item["predicted"]!, (string)mine["predicted"]!);
            }
        }
        finally
        {
            Directory.Delete(tmp, true);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void EmbeddingsAreCachedPerFileAndModel(string id)
    {
        var (f, _) = GoldenFixture.Resolve(id);
        var tmp = Directory.CreateTempSubdirectory("paper-cache-").FullName;
        try
        {
            string clip = ClipFolder(f, Path.Combine(tmp, "clip"));
            string images = Path.Combine(tmp, "images");
            Directory.CreateDirectory(images);
            foreach (var file in Directory.GetFiles(f.PathOf((string)f.Config["images"]!))) File.Copy(file, Path.Combine(images, Path.GetFileName(file)));
            string cache = Path.Combine(tmp, "cache");
            string[] Args(string outDir, params string[] more) => ["eval", "--protocol", "paper", "--data", f.PathOf((string)f.Config["manifest"]!),
                "--images", images, "--refs", f.PathOf((string)f.Config["refs"]!), "--clip-l14", clip, "--clip-b32", clip,
                "--wav2clip", f.PathOf((string)f.Config["wav2clip"]!), "--inception", f.PathOf((string)f.Config["inception"]!), "--out", outDir, .. more];
            string Report(string dir) => File.ReadAllText(Path.Combine(tmp, dir, "scores.jsonl"));

            var (code, stdout, err) = CliTests.Sonic(Args(Path.Combine(tmp, "a"), "--embedding-cache", cache));
            Assert.True(code == 0, err + stdout);
            // 4 pairs, 24 look-ups: 4 sounds (Wav2CLIP), 4 generated (ViT-B/32), 4 generated + 4 dataset (ViT-L/14), 8 Inception
            // features. The fixture's "two" CLIPs are one folder, hence one model key: ViT-L/14 finds the generated images
            // ViT-B/32 has just embedded.
            Assert.Contains("embedding cache: 4 reused, 20 computed", stdout);
            (code, stdout, err) = CliTests.Sonic(Args(Path.Combine(tmp, "b"), "--embedding-cache", cache));
            Assert.True(code == 0, err + stdout);
            Assert.Contains("embedding cache: 24 reused, 0 computed", stdout);
            Assert.Equal(Report("a"), Report("b").Replace(Path.Combine(tmp, "b"), Path.Combine(tmp, "a")));
            (code, stdout, err) = CliTests.Sonic(Args(Path.Combine(tmp, "c"), "--no-embedding-cache"));
            Assert.True(code == 0, err + stdout);
            Assert.DoesNotContain("embedding cache", stdout);
            Assert.Equal(Report("a"), Report("c"));

            // A changed image is a new file to the cache: its CLIP embedding and its Inception features are computed again.
            string first = Directory.GetFiles(images).Order(StringComparer.Ordinal).First();
            File.SetLastWriteTimeUtc(first, File.GetLastWriteTimeUtc(first).AddMinutes(1));
            (code, stdout, err) = CliTests.Sonic(Args(Path.Combine(tmp, "d"), "--embedding-cache", cache));
            Assert.True(code == 0, err + stdout);
            Assert.Contains("embedding cache: 22 reused, 2 computed", stdout);
        }
        finally
        {
            Directory.Delete(tmp, true);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void AudioEmbeddingsUseTheStatisticsOfAllClips(string id)
    {
        var (f, c) = GoldenFixture.Resolve(id);
        using var w2c = Models.Wav2Clip.Load(f.PathOf((string)f.Config["wav2clip"]!));
        var manifest = Data.DatasetManifest.Read(f.PathOf((string)f.Config["manifest"]!), ["audio"]);
        var paths = manifest.Rows.Select(manifest.AudioPath).Order(StringComparer.Ordinal).ToList();
        var evaluator = new PaperEvaluator(new PaperModels(null!, null, w2c, null));
        using var noGrad = torch.no_grad();
        using var embeds = evaluator.EmbedAudio(paths);
        c.AssertAll(new Dictionary<string, Tensor> { ["audio_embeds"] = embeds }, requireAllOutputs: false);
    }

    [Fact]
    public void RefsAreReproducibleFromTheSeed()
    {
        var f = GoldenFixture.All.First(g => g.Kind == "paper_eval");
        var tmp = Directory.CreateTempSubdirectory("paper-refs-").FullName;
        try
        {
            string clip = ClipFolder(f, Path.Combine(tmp, "clip"));
            string[] Args(string o, string seed) => ["eval", "refs", "--data", f.PathOf((string)f.Config["manifest"]!), "--split", "test", "--count", "3", "--seed", seed,
                "--clip-l14", clip, "--wav2clip", f.PathOf((string)f.Config["wav2clip"]!), "--out", Path.Combine(tmp, o), "--no-embedding-cache"];
            foreach (var (o, s) in new[] { ("a.safetensors", "5"), ("b.safetensors", "5"), ("c.safetensors", "6") })
            {
                var (code, stdout, err) = CliTests.Sonic(Args(o, s));
                Assert.True(code == 0, err + stdout);
            }
            using var a = PaperReferenceSet.Load(Path.Combine(tmp, "a.safetensors"));
            using var b = PaperReferenceSet.Load(Path.Combine(tmp, "b.safetensors"));
            using var c = PaperReferenceSet.Load(Path.Combine(tmp, "c.safetensors"));
            Assert.Equal(new long[] { 3, 32 }, a.Audio.shape);
            Assert.True(a.Audio.allclose(b.Audio, 0, 0) && a.Images.allclose(b.Images, 0, 0));
            Assert.Equal(a.Metadata["audio_rows"], b.Metadata["audio_rows"]);
            Assert.NotEqual(a.Metadata["image_rows"] + a.Metadata["audio_rows"], c.Metadata["image_rows"] + c.Metadata["audio_rows"]);
        }
        finally
        {
            Directory.Delete(tmp, true);
        }
    }

    [Fact]
    public void ChooseDrawsDistinctRowsAndRefusesTooMany()
    {
        var x = PaperReferenceSet.Choose(10, 10, 3);
        Assert.Equal(Enumerable.Range(0, 10), x.Order());
        Assert.Equal(PaperReferenceSet.Choose(10, 4, 3), PaperReferenceSet.Choose(10, 4, 3));
        var e = Assert.Throws<Core.SonicException>(() => PaperReferenceSet.Choose(3, 4, 0));
        Assert.Contains("only 3", e.Message);
    }

    [Fact]
    public void RankingCountsOnlyReferencesStrictlyBelowThePair()
    {
        using var q = torch.tensor(new float[] { 1, 0 }).reshape(1, 2);
        using var p = torch.tensor(new float[] { 1, 1 }).reshape(1, 2);                       // cos 0.707
        using var r = torch.tensor(new float[] { 1, 1, 0, 1, 1, 0, -1, 0 }).reshape(4, 2);     // tie, below, above, below
        Assert.Equal(0.5, PaperRanking.Scores(q, p, r).Single(), 12);
    }

    [Fact]
    public void MismatchedImageCountIsOneLine()
    {
        var f = GoldenFixture.All.First(g => g.Kind == "paper_eval");
        var manifest = Data.DatasetManifest.Read(f.PathOf((string)f.Config["manifest"]!), ["audio"]);
        var e = Assert.Throws<Core.SonicException>(() => PaperEvaluator.Pair(f.PathOf("images"), manifest, manifest.Rows.Take(3).ToList()));
        Assert.Contains("4 images for 3 manifest rows", e.Message);
    }
}
