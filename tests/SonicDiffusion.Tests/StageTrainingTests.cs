using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Data.World;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Tests.Infrastructure;
using SonicDiffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>A small synthetic world, the tiny SonicDiffusion bundle and the world's stage-1/2 cache, built once.</summary>
public sealed class StageWorldFixture : IDisposable
{
    public TempDir Dir { get; } = RepoPaths.NewTemp();
    public DatasetManifest Manifest { get; }
    public List<ManifestRow> Rows { get; }
    public string Bundle { get; }
    public string CacheDir => Dir.File("cache");

    public StageWorldFixture()
    {
        var summary = WorldGenerator.Generate(Dir.File("world"), 7, 18, threads: 2, world: 1);
        Manifest = DatasetManifest.Read(summary.ManifestPath);
        Rows = Manifest.Rows.ToList();
        Bundle = TinySonicBundle.WriteBundle(Dir.File("bundle"), seed: 3);
        CalibrateEncoder(Path.Combine(Bundle, "audio_encoder"), Rows.Take(6).Select(r => Manifest.AudioPath(r)));
    }

    /// <summary>
    /// Sets the random encoder's input BatchNorm (bn0) statistics to the log-mel mean and variance of a few clips: with
    /// bn0 at mean 0 / var ~1 and default conv init the signal shrinks ~6× in variance per conv layer (kaiming-uniform
    /// a = √5 gives 1/3, ReLU ½), so after 12 layers fc1 sees only its bias and every clip gets the same embedding
    /// (measured spread 6e-6), which no projector could tell apart. The conv BatchNorms' variances are divided by 6 to
    /// keep the signal alive.
    /// </summary>
    private static void CalibrateEncoder(string dir, IEnumerable<string> clips)
    {
        var (encoder, frontEndConfig) = ClapEmbeddingCache.LoadEncoder(dir);
        using var _ = encoder;
        using var frontEnd = new Audio.ClapFrontEnd(frontEndConfig);
        using var scope = torch.NewDisposeScope();
        var mels = torch.cat(clips.Select(c =>
        {
            using var src = Audio.AudioSources.Open(c);
            return frontEnd.LogMel(frontEnd.PrepareWaveform(src).unsqueeze(0));
        }).ToArray(), 0);                                                                   // [B, 1, T, M]
        var mean = mels.mean([0, 1, 2]);
        var variance = mels.var([0, 1, 2]);
        string weights = Path.Combine(dir, SonicDiffusionModel.WeightsFile);
        Dictionary<string, Tensor> all;
        using (var src = IO.SafetensorsFile.Open(weights)) all = src.ReadAll().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        all.Single(kv => kv.Key.EndsWith("bn0.running_mean", StringComparison.Ordinal)).Value.copy_(mean);
        all.Single(kv => kv.Key.EndsWith("bn0.running_var", StringComparison.Ordinal)).Value.copy_(variance);
        foreach (var (k, v) in all)
            if (k.Contains("conv_block", StringComparison.Ordinal) && k.EndsWith("running_var", StringComparison.Ordinal)) v.div_(6);
        File.Delete(weights);
        IO.SafetensorsWriter.Write(weights, all);
    }

    public SonicDataCache Open(bool latents = true, IReadOnlyList<ManifestRow>? rows = null, string? cacheDir = null, string? model = null, string? encoder = null) =>
        SonicDataCache.LoadOrBuild(Manifest, rows ?? Rows, model ?? Bundle, encoder, 2, latents, null, cacheDir ?? CacheDir);

    public void Dispose() => Dir.Dispose();
}

public class StageTrainingTests(StageWorldFixture world, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<StageWorldFixture>
{
    /// <summary>The tiny bundle's widths (43-d CLAP, 32-wide tokens) with the official 77 tokens.</summary>
    private static AudioProjectorConfig Projector77 => TinySonicBundle.ProjectorConfig with { AudioTokenCount = 77 };

    private static TrainingConfig Config(long steps, int batch, double lr, long checkpointEvery = 1000) => new()
    {
        Seed = 3, TotalSteps = steps, BatchSize = batch, LearningRate = lr, CheckpointEvery = checkpointEvery, PlotLoss = false,
        LrSchedule = new LrSchedule { Kind = LrSchedule.Constant }, WeightDecay = 0,
    };

    private static long[] Probe(long n, int k = 12) => Enumerable.Range(0, (int)Math.Min(k, n)).Select(i => i * n / Math.Min(k, n)).ToArray();

    // ------------------------------------------------------------------ losses against hand-computed values

    [Fact]
    public void InfoNceMatchesHandComputedValues()
    {
        float[,] a = { { 1, 0 }, { 0.6f, 0.8f } }, p = { { 0.8f, 0.6f }, { 0, 1 } }, c = { { 1, 0 }, { 0, 1 }, { -1, 0 }, { 0.6f, -0.8f } };
        long[] ac = [0, 1], cc = [0, 1, 2, 1];
        double tau = 0.5;
        using var at = torch.tensor(a);
        using var pt = torch.tensor(p);
        using var ct = torch.tensor(c);
        double expected = 0;
        for (int i = 0; i < 2; i++)
        {
            double Dot(float[,] x, int j) => a[i, 0] * x[j, 0] + a[i, 1] * x[j, 1];
            double pos = Dot(p, i) / tau, sum = Math.Exp(pos);
            for (int j = 0; j < 4; j++) if (cc[j] != ac[i]) sum += Math.Exp(Dot(c, j) / tau);
            expected += (Math.Log(sum) - pos) / 2;
        }
        using var loss = ProjectorLosses.InfoNce(at, pt, ct, ac, cc, negatives: 128, tau);
        Assert.Equal(expected, loss.item<float>(), 5);

        // Capped at one negative: every other-class candidate of anchor 0 has similarity 0 or -1, of anchor 1 -0.28 or -0.6 ...
        // so check the bound instead: the capped loss lies between the loss with the smallest and the largest single negative.
        using var g = new Generator(5);
        using var capped = ProjectorLosses.InfoNce(at, pt, ct, ac, cc, negatives: 1, tau, g);
        double lo = 0, hi = 0;
        for (int i = 0; i < 2; i++)
        {
            double Dot(float[,] x, int j) => a[i, 0] * x[j, 0] + a[i, 1] * x[j, 1];
            double pos = Dot(p, i) / tau;
            var singles = Enumerable.Range(0, 4).Where(j => cc[j] != ac[i]).Select(j => Math.Log(Math.Exp(pos) + Math.Exp(Dot(c, j) / tau)) - pos).ToList();
            lo += singles.Min() / 2;
            hi += singles.Max() / 2;
        }
        Assert.InRange(capped.item<float>(), lo - 1e-5, hi + 1e-5);
        Assert.True(capped.item<float>() < loss.item<float>());
    }

    [Fact]
    public void WeightedMseMatchesHandComputedValues()
    {
        using var w = ProjectorLosses.TokenWeights(5, center: 2, scale: 1);
        var wv = w.data<float>().ToArray();
        Assert.Equal(0.5f, wv[2], 6);
        Assert.Equal(1 / (1 + Math.Exp(-2)), wv[0], 6);
        Assert.True(wv.Zip(wv.Skip(1)).All(x => x.First > x.Second));

        torch.manual_seed(4);
        using var text = torch.randn(2, 5, 3);
        using var audio5 = torch.randn(2, 5, 3);
        using var audio1 = torch.randn(2, 1, 3);
        using var audio2 = torch.randn(2, 2, 3);
        var t = text.data<float>().ToArray();
        double wsum = wv.Sum(x => (double)x);
        double Expected(Tensor audio)
        {
            long k = audio.shape[1];
            var av = audio.data<float>().ToArray();
            double total = 0;
            for (int b = 0; b < 2; b++)
                for (int g = 0; g < k; g++)
                {
                    int from = (int)(g * 5 / k), to = (int)((g + 1) * 5 / k);
                    double gw = 0;
                    var mean = new double[3];
                    for (int i = from; i < to; i++) { gw += wv[i]; for (int d = 0; d < 3; d++) mean[d] += wv[i] * t[(b * 5 + i) * 3 + d]; }
                    double se = 0;
                    for (int d = 0; d < 3; d++) { double diff = av[(b * k + g) * 3 + d] - mean[d] / gw; se += diff * diff; }
                    total += gw * se / 3 / wsum / 2;
                }
            return total;
        }
        foreach (var audio in new[] { audio5, audio1, audio2 })
        {
            using var loss = ProjectorLosses.WeightedMse(audio, text, w);
            Assert.Equal(Expected(audio), loss.item<float>(), 5);
        }
    }

    [Fact]
    public void SiteSpecsGiveFlagsOrExplicitLists()
    {
        var unet = TinyStableDiffusion.UNetConfig;
        var flags = Stage2Options.ParseSites("mid,up", unet, AudioAdapterConfig.Official);
        Assert.Null(flags.Sites);
        Assert.Equal(new[] { false, true, true }, flags.UseAdapterList);
        var all = AudioAdapterConfig.AllTransformerBlocks(unet);
        var last = Stage2Options.ParseSites("last:1", unet, AudioAdapterConfig.Official);
        Assert.Equal(new[] { all[^1].Path }, last.Sites);
        var mixed = Stage2Options.ParseSites($"down,{all[^1].Path}", unet, AudioAdapterConfig.Official);
        Assert.Equal(all.Where(s => s.Region == "down").Select(s => s.Path).Append(all[^1].Path), mixed.Sites);
        Assert.Contains("last:N", Assert.Throws<SonicException>(() => Stage2Options.ParseSites("side", unet, AudioAdapterConfig.Official)).Message);
    }

    // ------------------------------------------------------------------ cache

    [Fact]
    public void CacheMatchesTheEncodersAndNewWeightsInvalidateIt()
    {
        using var tmp = new TempDir();
        var rows = world.Rows.Take(3).ToList();
        using (var data = world.Open(latents: false, rows: rows, cacheDir: tmp.File("cache")))
        {
            Assert.Equal(3, data.Rows.Count);
            Assert.Equal(6, data.Clap.Count);
            // crop 0 is what inference computes for the file
            using var model = SonicDiffusionModel.Load(world.Bundle);
            var pipeline = new AudioToImagePipeline(model);
            using var inference = pipeline.AudioEmbedding(world.Manifest.AudioPath(data.Rows[1]));
            using var cached = data.Embeddings([2]);
            Assert.True(cached.allclose(inference, 1e-5, 1e-5), "cached crop 0 differs from the inference embedding");
            // tokens are the text encoder's last hidden state; row 0 is ""
            using var ids = model.Sd.Tokenizer.EncodeBatch(["", data.Rows[0].Caption], 77);
            using var expected = model.Sd.TextEncoder.forward(ids);
            using var tokens = data.TextTokens([0, data.TokenRow(0)]);
            Assert.True(tokens.allclose(expected, 1e-5, 1e-5));
        }
        string clapFile = Directory.GetFiles(tmp.File("cache"), "clap-*").Single();

        // new encoder weights → new key → new file with different embeddings; the old one is left alone
        string encoder = tmp.File("encoder");
        Directory.CreateDirectory(encoder);
        foreach (var f in Directory.GetFiles(Path.Combine(world.Bundle, "audio_encoder"))) File.Copy(f, Path.Combine(encoder, Path.GetFileName(f)));
        var weights = Path.Combine(encoder, "model.safetensors");
        Dictionary<string, Tensor> all;
        using (var src = IO.SafetensorsFile.Open(weights))
            all = src.ReadAll().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
        foreach (var (k, v) in all) if (k.EndsWith("fc1.bias", StringComparison.Ordinal)) v.add_(0.5);
        File.Delete(weights);
        IO.SafetensorsWriter.Write(weights, all);
        using (var data = world.Open(latents: false, rows: rows, cacheDir: tmp.File("cache"), encoder: encoder))
        {
            Assert.NotEqual(clapFile, data.Clap.FilePath);
            using var a = data.Embeddings([0]);
            using var old = world.Open(latents: false, rows: rows, cacheDir: tmp.File("cache"));
            using var b = old.Embeddings([0]);
            Assert.Equal(clapFile, old.Clap.FilePath);
            Assert.False(a.equal(b).all().item<bool>());
        }
        Assert.Equal(2, Directory.GetFiles(tmp.File("cache"), "clap-*.safetensors").Length);
        Assert.Single(Directory.GetFiles(tmp.File("cache"), "clip-tokens-*.safetensors"));
    }

    [Fact]
    public void CorruptRowsAreReportedAndSkippedAndCounted()
    {
        using var tmp = new TempDir();
        var rows = world.Rows.Take(4).ToList();
        string badAudio = tmp.File("bad.wav"), goodImage = world.Manifest.ImagePath(rows[1]);
        File.WriteAllBytes(badAudio, "RIFF\0\0\0\0WAVEjunk"u8.ToArray());
        var edited = new List<ManifestRow>
        {
            rows[0] with { Audio = badAudio },
            rows[1],
            rows[2] with { Image = tmp.File("missing.png") },
            rows[3],
        };
        string manifestPath = tmp.File("manifest.jsonl");
        DatasetManifest.Write(manifestPath, edited.Select(r => r with { Image = Path.IsPathRooted(r.Image) ? r.Image : world.Manifest.ImagePath(r), Audio = Path.IsPathRooted(r.Audio) ? r.Audio : world.Manifest.AudioPath(r) }));
        File.AppendAllText(manifestPath, "{not json\n");
        var manifest = DatasetManifest.Read(manifestPath);

        var report = DatasetCheck.Run(manifest);
        Assert.False(report.Ok);
        Assert.Equal(2, report.GoodRows);
        Assert.Contains(report.Problems, p => p.Line == 1 && p.Message.Contains("audio unreadable"));
        Assert.Contains(report.Problems, p => p.Line == 3 && p.Message.Contains("image file missing"));
        Assert.Contains(report.Problems, p => p.Line == 5);
        Assert.Equal(2, report.ClassCounts.Values.Sum(c => c.Values.Sum()));

        var logs = new List<string>();
        using var data = SonicDataCache.LoadOrBuild(manifest, manifest.Rows, world.Bundle, null, 1, true, null, tmp.File("cache"), log: logs.Add);
        Assert.Equal(2, data.Rows.Count);
        Assert.Equal(1, data.SkippedAudio);
        Assert.Equal(1, data.SkippedImages);
        Assert.Contains(logs, l => l.Contains("skipped 1 of 4 clips"));
        Assert.Contains(logs, l => l.Contains("2 of 4 rows skipped"));
        Assert.Equal(new[] { 2, 4 }, data.Rows.Select(r => r.Line));
    }

    // ------------------------------------------------------------------ stage 1

    [Fact]
    public void Stage1LossDecreasesTrainsOnlyTheProjectorAndExportsRoundTrip()
    {
        using var tmp = new TempDir();
        using var data = world.Open(latents: false);
        var options = new Stage1Options { Projector = Projector77, Negatives = 16, NegativePool = 8 };
        torch.manual_seed(5);
        using var task = new Stage1TrainingTask(data, options);
        var probe = Probe(task.DatasetSize);
        var before = task.Evaluate(probe);
        using var trainer = new Trainer(task, Config(25, 6, 3e-3), tmp.File("run"));
        trainer.Run();
        var after = task.Evaluate(probe);
        output.WriteLine($"stage 1 probe: mse {before["mse"]:G4} → {after["mse"]:G4}, infonce {before["infonce"]:G4} → {after["infonce"]:G4}");
        Assert.True(after["mse"] < 0.8 * before["mse"], $"mse {before["mse"]} → {after["mse"]}");
        Assert.True(after["infonce"] < before["infonce"], $"infonce {before["infonce"]} → {after["infonce"]}");
        Assert.All(trainer.Metrics, m => Assert.True(m.Parts.ContainsKey("infonce") && m.Parts.ContainsKey("mse")));
        Assert.Equal(task.Projector.parameters().Count(p => p.requires_grad), task.ParameterGroups.Single().Parameters.Count);
        var saved = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(tmp.File("run/config.json")))!;
        Assert.Equal(0.25, saved["task"]!["options"]!["mse_weight"]!.GetValue<double>());
        Assert.Equal(77, saved["task"]!["options"]!["projector"]!["audio_token_count"]!.GetValue<int>());

        SonicTrainingExport.WriteProjectorFolder(task.Projector, tmp.File("export/audio_projector"));
        var (_, pth) = SonicTrainingExport.WriteOfficial(tmp.File("official"), "t", task.Projector, null);
        foreach (var path in new[] { tmp.File("export/audio_projector"), pth })
        {
            using var loaded = SonicTrainingExport.LoadProjector(path);
            Assert.Equal(task.Projector.Config with { H = loaded.Config.H }, loaded.Config);
            var mine = task.Projector.named_parameters().ToDictionary(p => p.name, p => p.parameter);
            foreach (var (n, p) in loaded.named_parameters()) Assert.True(p.equal(mine[n]).all().item<bool>(), $"{path}: {n} differs");
        }
    }

    [Fact]
    public void Stage1AblationsSingleTokenAndNoInfoNce()
    {
        using var tmp = new TempDir();
        using var data = world.Open(latents: false);
        torch.manual_seed(6);
        using var task = new Stage1TrainingTask(data, new Stage1Options { Projector = Projector77 with { AudioTokenCount = 1 }, InfoNceWeight = 0 });
        using var trainer = new Trainer(task, Config(4, 4, 1e-3), tmp.File("run"));
        trainer.Run();
        Assert.All(trainer.Metrics, m => Assert.Equal(new[] { "mse" }, m.Parts.Keys));
        using var emb = data.Embeddings([0, 1]);
        using var tokens = task.Projector.forward(emb.unsqueeze(1));
        Assert.Equal(new long[] { 2, 1, 32 }, tokens.shape);
        Assert.Throws<SonicException>(() => new Stage1Options { InfoNceWeight = 0, MseWeight = 0 }.Validate());
    }

    // ------------------------------------------------------------------ stage 2

    private Stage2TrainingTask NewStage2(SonicDataCache data, out StableDiffusionComponents sd, out AudioProjector projector, Stage2Options? options = null, double lr = 1e-2)
    {
        sd = StableDiffusionComponents.Load(world.Bundle);
        projector = SonicTrainingExport.LoadProjector(Path.Combine(world.Bundle, "audio_projector"));
        return new Stage2TrainingTask(data, sd.Unet, projector, options ?? new Stage2Options(), lr);
    }

    [Fact]
    public void Stage2GradientsReachOnlyTrainableWeightsFrozenStayBitIdenticalAndLossDecreases()
    {
        using var tmp = new TempDir();
        using var data = world.Open();
        torch.manual_seed(8);
        var task = NewStage2(data, out var sd, out var projector, new Stage2Options { Adapters = AudioAdapterConfig.Official with { GateInit = 0.1 }, NullAudioProbability = 0.3 });
        using var _ = sd;
        using var __ = projector;
        var trainable = task.ParameterGroups.SelectMany(g => g.Parameters).Select(p => p.Parameter).ToHashSet(ReferenceEqualityComparer.Instance);
        var adapterNames = task.Adapters.Parameters().Keys.ToHashSet();
        var frozenBefore = WeightFingerprint.Of(sd.Unet);
        foreach (var n in adapterNames) frozenBefore.Remove(n);
        Assert.Equal(task.Adapters.TensorCount + projector.parameters().Count(p => p.requires_grad), trainable.Count);
        Assert.True(projector.parameters().Count(p => !p.requires_grad) > 0, "official mode: the unused first block stays frozen");

        using (var scope = torch.NewDisposeScope())
        using (torch.enable_grad())
        using (CpuKernels.OneDnnOff()) // the kernels Trainer.Run trains on (oneDNN's backward pass is wrong on some CPUs)
        using (var g = new Generator(1))
        {
            var loss = task.ComputeLoss(new TrainingBatch(0, 0, [0, 3, 5, 7], g));
            loss.Total.backward();
            foreach (var (n, p) in sd.Unet.named_parameters())
            {
                if (trainable.Contains(p)) Assert.True(p.grad is { } gr && gr.abs().sum().item<float>() > 0, $"{n}: no gradient");
                else { Assert.False(p.requires_grad, n); Assert.Null(p.grad); }
            }
            foreach (var (n, p) in projector.named_parameters())
                if (p.requires_grad) Assert.True(p.grad is { } gr && gr.abs().sum().item<float>() > 0, $"projector {n}: no gradient");
                else { Assert.Null(p.grad); Assert.Matches(@"^(cross|between)_attention\.0\.", n); }
            foreach (var p in trainable.Cast<TorchSharp.Modules.Parameter>()) p.grad?.zero_();
        }

        var probe = Probe(task.DatasetSize);
        double before = task.Evaluate(probe);
        using var trainer = new Trainer(task, Config(30, 6, 1e-2), tmp.File("run"));
        trainer.Run();
        double after = task.Evaluate(probe);
        output.WriteLine($"stage 2 probe ε-loss {before:G4} → {after:G4}");
        Assert.True(after < before, $"stage-2 probe loss {before} → {after}");
        var frozenAfter = WeightFingerprint.Of(sd.Unet);
        foreach (var n in adapterNames) frozenAfter.Remove(n);
        Assert.Empty(WeightFingerprint.Changed(frozenBefore, frozenAfter));
        var groups = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(tmp.File("run/config.json")))!["parameter_groups"]!.AsArray();
        Assert.Equal(1e-3, groups.Single(x => x!["name"]!.GetValue<string>() == "projector")!["learning_rate"]!.GetValue<double>(), 12);
    }

    [Fact]
    public void Stage2ResumedRunIsBitIdenticalToAnUninterruptedOne()
    {
        using var tmp = new TempDir();
        using var data = world.Open();
        var options = new Stage2Options { Adapters = AudioAdapterConfig.Official with { GateInit = 0.1 } };
        Dictionary<string, string> Train(string run, params long[] stops)
        {
            Dictionary<string, string> result = [];
            foreach (var stop in stops)
            {
                torch.manual_seed(9);
                var task = NewStage2(data, out var sd, out var projector, options);
                using (sd)
                using (projector)
                using (var trainer = new Trainer(task, Config(stop, 4, 5e-3, checkpointEvery: 2), run))
                {
                    trainer.Run();
                    result = task.ParameterGroups.SelectMany(g => g.Parameters).ToDictionary(p => p.Name, p => WeightFingerprint.Of(p.Parameter));
                }
            }
            return result;
        }
        var straight = Train(tmp.File("a"), 6);
        var resumed = Train(tmp.File("b"), 3, 6);
        Assert.Empty(WeightFingerprint.Changed(straight, resumed));
    }

    [Fact]
    public void GateZeroIsAnExactNoOpAndTextAttentionInitCopiesAttn2()
    {
        using var data = world.Open();
        torch.manual_seed(10);
        var task = NewStage2(data, out var sd, out var projector, new Stage2Options { InitFromTextAttention = true });
        using var _ = sd;
        using var __ = projector;
        var blocks = sd.Unet.TransformerBlocks().ToDictionary(b => b.Name, b => b.Block);
        foreach (var a in task.Adapters.Adapters)
        {
            Assert.Equal(0f, a.gate_adapter!.item<float>());
            Assert.True(a.attn_adapter!.to_q.weight!.equal(blocks[a.Site].attn2.to_q.weight!).all().item<bool>());
            Assert.True(a.attn_adapter!.to_v.weight!.equal(blocks[a.Site].attn2.to_v.weight!).all().item<bool>());
        }
        using var noGrad = torch.no_grad();
        torch.manual_seed(1);
        using var x = torch.randn(2, 4, 8, 8);
        using var t = torch.tensor(new long[] { 10, 900 });
        using var text = data.TextTokens([0, 1]);
        using var audio = torch.randn(2, 77, 32);
        using var plain = sd.Unet.Forward(x, t, text, null);
        using var withAudio = sd.Unet.Forward(x, t, text, new UNetCallContext { AudioContext = audio });
        Assert.True(plain.equal(withAudio).all().item<bool>());
    }

    [Fact]
    public void InitAdaptersStartsStage2FromTrainedWeights()
    {
        using var tmp = new TempDir();
        using var data = world.Open();
        torch.manual_seed(12);
        Dictionary<string, Tensor> trained;
        var first = NewStage2(data, out var sd1, out var p1, new Stage2Options { Adapters = AudioAdapterConfig.Official with { GateInit = 0.3 } });
        using (sd1)
        using (p1)
        {
            using (torch.no_grad())
                foreach (var p in first.Adapters.Parameters().Values) p.add_(torch.randn_like(p), alpha: 0.1);
            first.Adapters.Save(tmp.File("gate.pt"));
            trained = first.Adapters.Parameters().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
            Assert.Equal(first.Adapters.Sites.Select(s => s.Path), SonicDiffusionModel.GateDictSites(tmp.File("gate.pt"), sd1.Unet.Config));
        }
        var second = NewStage2(data, out var sd2, out var p2, new Stage2Options { InitAdapters = tmp.File("gate.pt") });
        using var _ = sd2;
        using var __ = p2;
        foreach (var (k, v) in second.Adapters.Parameters())
        {
            Assert.True(v.equal(trained[k]).all().item<bool>(), $"{k} does not start from the trained weights");
            Assert.True(v.requires_grad, $"{k} must stay trainable");
        }
        Assert.Empty(second.SkippedInitSites);

        // A UNet with fewer adapter sites (a distilled student) starts from the sites it has; the others are reported.
        var allSites = SonicDiffusionModel.GateDictSites(tmp.File("gate.pt"), sd2.Unet.Config);
        var fewer = new Stage2Options { InitAdapters = tmp.File("gate.pt"), Adapters = AudioAdapterConfig.Official with { Sites = [allSites[^1]] } };
        var third = NewStage2(data, out var sd3, out var p3, fewer);
        using (sd3)
        using (p3)
        {
            Assert.Equal(allSites.Take(allSites.Count - 1), third.SkippedInitSites);
            Assert.Single(third.Adapters.Sites);
            foreach (var (k, v) in third.Adapters.Parameters())
                Assert.True(v.equal(trained[k]).all().item<bool>(), $"{k} does not start from the trained weights");
        }
        foreach (var t in trained.Values) t.Dispose();
        var e = Assert.Throws<SonicException>(() => new Stage2Options { InitAdapters = "gate.pt", InitFromTextAttention = true }.Validate());
        Assert.Contains("exclude each other", e.Message);
    }

    [Fact]
    public void Stage2ExportsLoadAsBundleAndAsOfficialFilesAndSingleTokenGenerates()
    {
        using var tmp = new TempDir();
        using var data = world.Open();
        torch.manual_seed(11);
        var sd = StableDiffusionComponents.Load(world.Bundle);
        using var _ = sd;
        using var projector = new AudioProjector(TinySonicBundle.ProjectorConfig with { AudioTokenCount = 1 });
        var sites = Stage2Options.ParseSites("last:1", sd.Unet.Config, AudioAdapterConfig.Official with { GateInit = 0.1 });
        var task = new Stage2TrainingTask(data, sd.Unet, projector, new Stage2Options { Adapters = sites }, 1e-2);
        using (var trainer = new Trainer(task, Config(3, 4, 1e-2), tmp.File("run"))) trainer.Run();

        string bundle = tmp.File("bundle");
        SonicTrainingExport.WriteBundle(bundle, world.Bundle, Path.Combine(world.Bundle, "audio_encoder"), projector, task.Adapters);
        var (gate, proj) = SonicTrainingExport.WriteOfficial(tmp.File("official"), "t", projector, task.Adapters);
        var expectedAdapters = task.Adapters.Parameters();
        var expectedProjector = projector.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        void Check(SonicDiffusionModel m, string what)
        {
            Assert.Single(m.Adapters.Sites);
            Assert.Equal(sites.Sites, m.Adapters.Sites.Select(s => s.Path));
            foreach (var (k, v) in m.Adapters.Parameters()) Assert.True(v.equal(expectedAdapters[k]).all().item<bool>(), $"{what}: adapter {k} differs");
            foreach (var (k, v) in m.Projector.named_parameters()) Assert.True(v.equal(expectedProjector[k]).all().item<bool>(), $"{what}: projector {k} differs");
        }
        using (var m = SonicDiffusionModel.Load(bundle))
        {
            Check(m, "bundle");
            Assert.Equal(1, m.Projector.Config.AudioTokenCount);
            var pipeline = new AudioToImagePipeline(m);
            using var image = pipeline.Generate(new AudioToImageRequest { Audio = world.Manifest.AudioPath(world.Rows[0]), Steps = 2, Width = 64, Height = 64, Seed = 1 });
            Assert.Equal(new long[] { 1, 3, 64, 64 }, image.shape);
            Assert.True(image.isfinite().all().item<bool>());
        }
        using (var m = SonicDiffusionModel.Load(bundle, new OfficialSonicFiles(gate, proj, null))) Check(m, "official");
    }
}

/// <summary><c>sonic data check|cache</c> and <c>sonic train stage1 → stage2 → generate</c> end to end on the tiny bundle.</summary>
[Collection("Console")]
public class StageTrainingCliTests(StageWorldFixture world) : IClassFixture<StageWorldFixture>
{
    /// <summary>The caches of a folder that are whole caches (not shard parts), by file name.</summary>
    private static Dictionary<string, SonicDiffusion.IO.SafetensorsFile> WholeCaches(string dir) =>
        Directory.GetFiles(dir, "*.safetensors").Select(SonicDiffusion.IO.SafetensorsFile.Open)
            .Where(f => !f.Metadata.ContainsKey(CacheParts.PartOfKey)).ToDictionary(f => Path.GetFileName(f.Path));

    [Fact]
    public void ShardedCacheAssemblesIntoTheUnshardedCache()
    {
        using var tmp = new TempDir();
        string manifest = world.Manifest.FilePath;
        string[] Cache(string dir, params string[] more) => ["data", "cache", "--data", manifest, "--model", world.Bundle, "--cache", dir, "--threads", "1", .. more];
        var (code, output, err) = CliTests.Sonic(Cache(tmp.File("whole")));
        Assert.True(code == 0, err + output);
        for (int i = 0; i < 3; i++)
        {
            (code, output, err) = CliTests.Sonic(Cache(tmp.File("sharded"), "--shard", $"{i}/3"));
            Assert.True(code == 0, err + output);
            Assert.Contains($"cache part ready (shard {i}/3 (--shard)): 6 of 18 rows, 6 clips × 2 CLAP crops", output);
        }
        Assert.Empty(WholeCaches(tmp.File("sharded")));
        (code, output, err) = CliTests.Sonic(Cache(tmp.File("sharded")));
        Assert.True(code == 0, err + output);
        Assert.Contains("CLAP cache: assembled 18 clips × 2 crops from 3 shard parts", output);
        Assert.Contains("image cache: assembled 18 images from 3 shard parts", output);
        Assert.Contains("latent cache: assembled 18 × 2 latents from 3 shard parts", output);
        Assert.Contains("cache ready: 18 of 18 rows", output);

        // The same files (names are keys of the inputs) holding the same tensors: CLAP embeddings and images exactly (each
        // clip is encoded alone), latents to float32 round-off (the VAE's batches differ between a shard and the whole).
        var whole = WholeCaches(tmp.File("whole"));
        var assembled = WholeCaches(tmp.File("sharded"));
        try
        {
            Assert.Equal(whole.Keys.Order(), assembled.Keys.Order());
            Assert.Equal(4, whole.Count);   // clap, clip-tokens, images, latents
            foreach (var (name, expected) in whole)
            {
                var actual = assembled[name];
                Assert.Equal(expected.Metadata["key"], actual.Metadata["key"]);
                Assert.Equal(expected.Names.Order(), actual.Names.Order());
                foreach (var tensor in expected.Names)
                {
                    using var e = expected.Read(tensor);
                    using var a = actual.Read(tensor);
                    if (name.StartsWith("latents-", StringComparison.Ordinal))
                        Assert.True(e.allclose(a, rtol: 1e-5, atol: 1e-5), $"{name}: {tensor} differs by {(e - a).abs().max().item<float>()}");
                    else Assert.True(e.shape.SequenceEqual(a.shape) && e.eq(a).all().item<bool>(), $"{name}: {tensor} differs");
                }
            }
        }
        finally
        {
            foreach (var f in whole.Values.Concat(assembled.Values)) f.Dispose();
        }

        // An incomplete set of parts is named and the whole cache is built instead.
        for (int i = 0; i < 3; i += 2)
        {
            (code, output, err) = CliTests.Sonic(Cache(tmp.File("partial"), "--shard", $"{i}/3", "--no-latents"));
            Assert.True(code == 0, err + output);
        }
        (code, output, err) = CliTests.Sonic(Cache(tmp.File("partial"), "--no-latents"));
        Assert.True(code == 0, err + output);
        Assert.Contains("CLAP cache: found shard(s) 0, 2 of 3 but not 1", output);
        Assert.Contains("cache ready: 18 of 18 rows", output);
        (code, _, err) = CliTests.Sonic(Cache(tmp.File("o"), "--shard", "3/3"));
        Assert.Equal(1, code);
        Assert.Contains("--shard 3/3: shard index 3 is out of range 0..2", err);
    }

    [Fact]
    public void CheckCacheStage1Stage2AndGenerate()
    {
        using var tmp = new TempDir();
        string manifest = world.Manifest.FilePath, cache = world.CacheDir;
        var (code, output, err) = CliTests.Sonic("data", "check", manifest, "--threads", "2");
        Assert.True(code == 0, err + output);
        Assert.Contains("all files readable", output);
        Assert.Contains("train:", output);

        (code, output, err) = CliTests.Sonic("data", "cache", "--data", manifest, "--model", world.Bundle, "--cache", cache, "--threads", "2");
        Assert.True(code == 0, err);
        Assert.Contains("cache ready: 18 of 18 rows", output);

        string s1 = tmp.File("s1.json");
        ConfigJson.Write(s1, new Stage1Options { Projector = TinySonicBundle.ProjectorConfig with { AudioTokenCount = 77 }, Negatives = 8 });
        (code, output, err) = CliTests.Sonic("train", "stage1", "--data", manifest, "--model", world.Bundle, "--cache", cache, "--out", tmp.File("run1"),
            "--config", s1, "--steps", "2", "--batch", "4", "--split", "train", "--name", "tiny");
        Assert.True(code == 0, err);
        string projector = tmp.File("run1/export/audio_projector");
        Assert.True(File.Exists(Path.Combine(projector, "model.safetensors")));
        Assert.True(File.Exists(tmp.File("run1/export/official/audio_projector_tiny.pth")));

        (code, output, err) = CliTests.Sonic("train", "stage2", "--data", manifest, "--model", world.Bundle, "--cache", cache, "--out", tmp.File("run2"),
            "--projector", projector, "--steps", "2", "--batch", "2", "--sites", "last:2", "--gate-init", "0.1", "--init-from-text-attn", "--lr-schedule", "constant", "--name", "tiny");
        Assert.True(code == 0, err);
        Assert.Contains("2 adapter sites", output);
        var saved = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(tmp.File("run2/config.json")))!["task"]!["options"]!;
        Assert.True(saved["init_from_text_attention"]!.GetValue<bool>());
        Assert.Equal(0.1, saved["adapters"]!["gate_init"]!.GetValue<double>());
        Assert.Equal(2, saved["adapters"]!["sites"]!.AsArray().Count);
        Assert.True(File.Exists(tmp.File("run2/export/official/tiny.pt")));

        (code, output, err) = CliTests.Sonic("train", "stage2", "--data", manifest, "--model", world.Bundle, "--cache", cache, "--out", tmp.File("run3"),
            "--projector", projector, "--steps", "1", "--batch", "2", "--init-adapters", tmp.File("run2/export/bundle"), "--name", "tiny");
        Assert.True(code == 0, err);
        Assert.Contains("adapters start from", output);
        Assert.Contains("2 adapter sites", output);
        var fineTuned = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(tmp.File("run3/config.json")))!["task"]!["options"]!;
        Assert.EndsWith("model.safetensors", fineTuned["init_adapters"]!.GetValue<string>());
        (code, output, err) = CliTests.Sonic("train", "stage2", "--data", manifest, "--model", world.Bundle, "--cache", cache, "--out", tmp.File("run4"),
            "--steps", "1", "--init-adapters", tmp.File("run2/export/bundle"), "--init-from-text-attn");
        Assert.NotEqual(0, code);
        Assert.Contains("exclude each other", err);
        (code, output, err) = CliTests.Sonic("train", "stage2", "--data", manifest, "--model", world.Bundle, "--cache", cache, "--out", tmp.File("run5"),
            "--steps", "1", "--init-adapters", tmp.File("nowhere"));
        Assert.NotEqual(0, code);
        Assert.Contains("nowhere", err);

        (code, output, err) = CliTests.Sonic("generate", "--model", tmp.File("run2/export/bundle"), "--audio", world.Manifest.AudioPath(world.Rows[0]),
            "--steps", "2", "--size", "64x64", "--out", tmp.File("img.png"));
        Assert.True(code == 0, err + output);
        Assert.True(File.Exists(tmp.File("img.png")));
    }
    [Fact]
    public void TrainBaseDistilsASmallerUnetFromATeacherFolder()
    {
        using var tmp = new TempDir();
        string manifest = world.Manifest.FilePath, cache = world.CacheDir, vae = Path.Combine(world.Bundle, "vae");
        var (code, output, err) = CliTests.Sonic("train", "base", "--data", manifest, "--vae", vae, "--cache", cache, "--out", tmp.File("x"),
            "--distill-weight", "0.5");
        Assert.Equal(1, code);
        Assert.Contains("--distill-weight needs --teacher", err);
        (code, output, err) = CliTests.Sonic("train", "base", "--data", manifest, "--vae", vae, "--cache", cache, "--out", tmp.File("y"),
            "--teacher", tmp.Path);
        Assert.Equal(1, code);
        Assert.Contains("no text_encoder/config.json", err);

        var teacherUnet = TinyStableDiffusion.UNetConfig;
        string config = tmp.File("student.json");
        ConfigJson.Write(config, new BaseModelTrainingOptions
        {
            Unet = teacherUnet with { BlockOutChannels = [16, teacherUnet.BlockOutChannels[1]], TimeEmbeddingDim = teacherUnet.TimeEmbedDim },
        });
        (code, output, err) = CliTests.Sonic("train", "base", "--data", manifest, "--vae", vae, "--cache", cache, "--out", tmp.File("run"),
            "--teacher", world.Bundle, "--config", config, "--steps", "2", "--batch", "4", "--preview", "0", "--export-dtype", "float32");
        Assert.True(code == 0, err + output);
        Assert.Contains($"distilling from {world.Bundle}", output);
        var saved = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(tmp.File("run/config.json")))!["task"]!["options"]!;
        Assert.Equal(world.Bundle, saved["teacher"]!.GetValue<string>());
        Assert.Equal(1.0, saved["distillation_weight"]!.GetValue<double>());

        using var student = StableDiffusionComponents.Load(tmp.File("run/model"));
        using var teacher = StableDiffusionComponents.Load(world.Bundle);
        Assert.Equal([16, teacherUnet.BlockOutChannels[1]], student.Unet.Config.BlockOutChannels);
        Assert.Equal(teacherUnet.TimeEmbedDim, student.Unet.Config.TimeEmbedDim);
        var theirs = teacher.TextEncoder.state_dict();
        foreach (var (name, t) in student.TextEncoder.state_dict())
            Assert.True(t.equal(theirs[name]).all().item<bool>(), $"text encoder tensor {name} is not the teacher's");
    }
}
