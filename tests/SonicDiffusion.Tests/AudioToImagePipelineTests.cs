using SonicDiffusion.Core;
using SonicDiffusion.Imaging;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

public sealed class TinySonicFixture : IDisposable
{
    public TempDir Temp { get; } = new();
    public string Bundle { get; }
    public string Tone { get; }
    public string Noise { get; }
    public string Silence { get; }
    public string Long { get; }

    public TinySonicFixture()
    {
        Bundle = TinySonicBundle.WriteBundle(Temp.File("tiny-sonic"));
        Tone = TinySonicBundle.WriteTone(Temp.File("tone.wav"), 440);
        Noise = TinySonicBundle.WriteTone(Temp.File("noise.wav"), 3000, noise: 1.0, seed: 3, amplitude: 0.1f);
        Silence = TinySonicBundle.WriteTone(Temp.File("silence.wav"), 440, amplitude: 0);
        Long = TinySonicBundle.WriteTone(Temp.File("long.wav"), 220, seconds: 25, rate: 16000, noise: 0.3, seed: 5);
    }

    public SonicDiffusionModel Load(List<string>? notes = null) =>
        SonicDiffusionModel.Load(Bundle, null, new ModelLoadOptions { Log = notes is null ? null : notes.Add });

    public void Dispose() => Temp.Dispose();
}

/// <summary>Audio-to-image generation end to end on a tiny random bundle.</summary>
public class AudioToImagePipelineTests(TinySonicFixture tiny) : IClassFixture<TinySonicFixture>
{
    private AudioToImageRequest Request => new() { Audio = tiny.Tone, Steps = 3, Width = 64, Height = 64, Seed = 7, Scheduler = "ddim" };

    private static bool Same(Tensor a, Tensor b) => a.equal(b).all().item<bool>();

    [Fact]
    public void BundleLoadsCompletelyWithNothingInferred()
    {
        var notes = new List<string>();
        using var model = tiny.Load(notes);
        Assert.Equal(3, model.Adapters.Sites.Count);
        Assert.Equal(24, model.Adapters.TensorCount);
        Assert.DoesNotContain(notes, n => n.Contains("inferred"));
        Assert.False(model.AudioEncoder.FrontEndLoaded);
        Assert.Equal(441000, model.FrontEnd.Config.NumSamples);
        Assert.All(model.Adapters.Parameters().Values, p => Assert.False(p.requires_grad));
        Assert.Equal(0.7f, model.Adapters.Adapters[0].gate_adapter!.item<float>(), 5);
    }

    [Fact]
    public void InspectUnderstandsTheBundle()
    {
        var report = CheckpointInspector.Inspect(tiny.Bundle);
        var kinds = report.Components.ToDictionary(c => c.Component!, c => c.Kind);
        Assert.Equal(CheckpointKind.Clap2022, kinds[SonicDiffusionModel.AudioEncoderFolder]);
        Assert.Equal(CheckpointKind.SonicProjector, kinds[SonicDiffusionModel.AudioProjectorFolder]);
        Assert.Equal(CheckpointKind.SonicGates, kinds[SonicDiffusionModel.AdaptersFolder]);
        Assert.Equal(CheckpointKind.UNet, kinds["unet"]);
        Assert.Equal("SonicDiffusionPipeline", report.PipelineClass);
    }

    [Fact]
    public void GeneratesReproduciblyAndTheSoundMatters()
    {
        using var model = tiny.Load();
        var pipe = new AudioToImagePipeline(model);
        using var a = pipe.Generate(Request);
        using var b = pipe.Generate(Request);
        using var c = pipe.Generate(Request with { Audio = tiny.Noise });
        using var d = pipe.Generate(Request with { Seed = 8 });
        Assert.Equal(new long[] { 1, 3, 64, 64 }, a.shape);
        Assert.True(a.isfinite().all().item<bool>());
        Assert.True(Same(a, b), "same request, same image");
        Assert.False(Same(a, c), "another sound, another image");
        Assert.False(Same(a, d), "another seed, another image");
        Assert.Equal(2, pipe.CachedEmbeddings);
    }

    [Fact]
    public void ThreeBranchGuidanceWithEqualScalesIsTheOfficialGuidance()
    {
        using var model = tiny.Load();
        var pipe = new AudioToImagePipeline(model);
        var req = Request with { Prompt = "rain on a window", Guidance = 4 };
        using var official = pipe.GenerateLatents(req);
        using var three = pipe.GenerateLatents(req with { AudioGuidance = 4 });
        Assert.True(allclose(official, three, rtol: 1e-4, atol: 1e-5), "ε0 + s(ε1 − ε0) + s(ε2 − ε1) = ε0 + s(ε2 − ε0)");
        using var other = pipe.GenerateLatents(req with { AudioGuidance = 1 });
        Assert.False(allclose(official, other, rtol: 1e-4, atol: 1e-5));
    }

    [Fact]
    public void BranchesSideBySideGiveTheBatchedResult()
    {
        using var model = tiny.Load();
        var pipe = new AudioToImagePipeline(model);
        int threads = torch.get_num_threads();
        var req = Request with { Prompt = "rain on a window", Guidance = 4 };
        pipe.BranchThreads = 1;
        using var batched = pipe.GenerateLatents(req);
        using var batched3 = pipe.GenerateLatents(req with { AudioGuidance = 2 });
        pipe.BranchThreads = 3;
        using var sideBySide = pipe.GenerateLatents(req);
        using var sideBySide3 = pipe.GenerateLatents(req with { AudioGuidance = 2 });
        using var again = pipe.GenerateLatents(req);
        Assert.True(allclose(batched, sideBySide, rtol: 1e-4, atol: 1e-5), "two branches, one per thread");
        Assert.True(allclose(batched3, sideBySide3, rtol: 1e-4, atol: 1e-5), "three branches, one per thread");
        Assert.True(Same(sideBySide, again), "side by side is deterministic");
        Assert.Equal(threads, torch.get_num_threads());
    }

    [Fact]
    public void BetaZeroIsPlainStableDiffusion()
    {
        using var model = tiny.Load();
        var pipe = new AudioToImagePipeline(model);
        var req = Request with { Prompt = "a forest", Guidance = 3, Beta = 0 };
        using var silentAdapters = pipe.GenerateLatents(req);
        using var sd = new TextToImagePipeline(model.Sd).GenerateLatents(new TextToImageRequest
        {
            Prompt = req.Prompt, Steps = req.Steps, Guidance = req.Guidance, Seed = req.Seed, Scheduler = req.Scheduler, Width = 64, Height = 64,
        });
        Assert.True(Same(silentAdapters, sd), "β = 0 at every site must give the plain SD sampler's latents");
        using var perSiteZero = pipe.GenerateLatents(req with { Beta = 1, BetaSites = [0, 0, 0] });
        Assert.True(Same(perSiteZero, sd));
        using var oneSite = pipe.GenerateLatents(req with { Beta = 1, BetaSites = [0, 2, 0] });
        Assert.False(Same(oneSite, sd));
        var e = Assert.Throws<SonicException>(() => pipe.GenerateLatents(req with { BetaSites = [1, 1] }));
        Assert.Contains("3 adapter sites", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void MixGainAndOffsetShapeTheEmbedding()
    {
        using var model = tiny.Load();
        var pipe = new AudioToImagePipeline(model);
        using var tone = pipe.AudioEmbedding(tiny.Tone);
        using var noise = pipe.AudioEmbedding(tiny.Noise);
        Assert.True(allclose(tone.norm(), tensor(1f), atol: 1e-5));
        using var none = pipe.ConditioningEmbedding(Request);
        Assert.True(Same(none, tone));
        using var zero = pipe.ConditioningEmbedding(Request with { Mix = [new AudioMix(tiny.Noise, 0)] });
        Assert.True(allclose(zero, tone, atol: 1e-6));
        using var all = pipe.ConditioningEmbedding(Request with { Mix = [new AudioMix(tiny.Noise, 1)] });
        Assert.True(allclose(all, noise, atol: 1e-6));
        using var mixed = pipe.ConditioningEmbedding(Request with { Mix = [new AudioMix(tiny.Noise, 0.3)] });
        using var expected = (tone * 0.7 + noise * 0.3) / (tone * 0.7 + noise * 0.3).norm();
        Assert.True(allclose(mixed, expected, atol: 1e-6));
        Assert.Throws<SonicException>(() => (Request with { Mix = [new AudioMix(tiny.Noise, 0.7), new AudioMix(tiny.Tone, 0.5)] }).Validate());
        Assert.Equal(new AudioMix("a:b.wav", 0.25), AudioMix.Parse("a:b.wav:0.25"));

        using var louder = pipe.AudioEmbedding(tiny.Tone, gainDb: 12);
        Assert.False(allclose(louder, tone, atol: 1e-4), "12 dB louder shifts the log-mel and changes the embedding");
        using var louderAgain = pipe.AudioEmbedding(tiny.Tone, gainDb: 12);
        Assert.True(Same(louder, louderAgain));

        using var start = pipe.AudioEmbedding(tiny.Long);
        using var later = pipe.AudioEmbedding(tiny.Long, offsetSeconds: 12.5);
        Assert.False(Same(start, later));
        var e = Assert.Throws<SonicException>(() => pipe.AudioEmbedding(tiny.Long, offsetSeconds: 16));
        Assert.Contains("between 0 and 15 s", e.Message);
        Assert.Equal(5, pipe.CachedEmbeddings);
    }

    [Fact]
    public void PureSilenceStillGeneratesAnImage()
    {
        using var model = tiny.Load();
        var pipe = new AudioToImagePipeline(model);
        using var emb = pipe.AudioEmbedding(tiny.Silence);
        Assert.True(emb.isfinite().all().item<bool>());
        using var image = pipe.Generate(Request with { Audio = tiny.Silence });
        Assert.True(image.isfinite().all().item<bool>());
    }

    [Fact]
    public void ProgressCancellationAndNoLeaks()
    {
        using var model = tiny.Load();
        var pipe = new AudioToImagePipeline(model);
        var reports = new List<ProgressInfo>();
        using (var img = pipe.Generate(Request with { Mix = [new AudioMix(tiny.Noise, 0.5)] }, new SyncProgress(reports.Add))) { }
        Assert.Contains(reports, r => r.Stage == "audio" && r.Step == 2 && r.Total == 2);
        Assert.Equal(3, reports.Count(r => r.Stage == "denoise" && r.Step > 0));
        Assert.Contains(reports, r => r.Stage == "decode" && r.Step == 1);

        using (var warm = pipe.GenerateLatents(Request with { Steps = 2 })) { }
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using (var l = pipe.GenerateLatents(Request with { Steps = 2 })) { }
        using (var l = pipe.GenerateLatents(Request with { Steps = 5 })) { }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);

        using var cts = new CancellationTokenSource();
        int seen = 0;
        var progress = new SyncProgress(p => { if (p.Stage == "denoise" && p.Step == 2) cts.Cancel(); if (p.Stage == "denoise") seen = Math.Max(seen, p.Step); });
        Assert.ThrowsAny<OperationCanceledException>(() => pipe.Generate(Request with { Steps = 6 }, progress, cts.Token));
        Assert.Equal(2, seen);
    }

    [Fact]
    public void PngCarriesEveryParameter()
    {
        using var model = tiny.Load();
        var pipe = new AudioToImagePipeline(model);
        var req = Request with { Prompt = "waves", AudioGuidance = 3, BetaSites = [1, 0.5, 0.25], GainDb = -3, Mix = [new AudioMix(tiny.Noise, 0.2)] };
        using var image = pipe.Generate(req);
        var path = tiny.Temp.File("meta.png");
        ImageTensor.SavePng(image, path, pipe.Metadata(req));
        var meta = PngText.Read(path);
        Assert.Equal(tiny.Tone, meta["audio"]);
        Assert.Equal("waves", meta["prompt"]);
        Assert.Equal("three-branch", meta["guidance_mode"]);
        Assert.Equal("3", meta["audio_guidance"]);
        Assert.Equal("1,0.5,0.25", meta["beta_sites"]);
        Assert.Equal("-3", meta["gain_db"]);
        Assert.Equal($"{tiny.Noise}:0.2", meta["mix"]);
        Assert.Equal("7", meta["seed"]);
        Assert.Equal("ddim", meta["scheduler"]);
        Assert.Equal("64x64", meta["size"]);
        Assert.Equal(tiny.Bundle, meta["model"]);
        Assert.Contains("mid_block.attentions.0.transformer_blocks.0", meta["adapter_sites"]);
        Assert.Contains("model_adapters", meta.Keys);
    }

    [Fact]
    public void SavedBundleAndOfficialFilesReproduceTheImage()
    {
        using var tmp = new TempDir();
        AudioToImageRequest req;
        Tensor reference;
        string gate, proj, clap;
        using (var model = tiny.Load())
        {
            req = Request;
            reference = new AudioToImagePipeline(model).Generate(req);
            model.SaveBundle(tmp.File("resaved"));
            (gate, proj, clap) = TinySonicBundle.WriteOfficialFiles(model, tmp.File("official"));
        }
        using (reference)
        {
            using (var again = SonicDiffusionModel.Load(tmp.File("resaved")))
            using (var image = new AudioToImagePipeline(again).Generate(req))
                Assert.True(Same(reference, image), "a re-saved bundle gives the same image");

            var sdOnly = CopySdPart(tiny.Bundle, tmp.File("sd-only"));
            var notes = new List<string>();
            using (var official = SonicDiffusionModel.Load(sdOnly, OfficialSonicFiles.Resolve(tmp.File("official")), new ModelLoadOptions { Log = notes.Add }))
            {
                Assert.Equal(gate, official.Origins[SonicDiffusionModel.AdaptersFolder]);
                Assert.Contains(notes, n => n.Contains("CLAP audio branch") && n.Contains("2 text-branch/other tensors ignored"));
                Assert.Contains(notes, n => n.Contains("residual_mode official"));
                Assert.Contains(notes, n => n.Contains("gate dict, 24 tensors at 3 sites"));
                using var image = new AudioToImagePipeline(official).Generate(req);
                Assert.True(Same(reference, image), "official-format files give the same image");
            }
            var files = OfficialSonicFiles.Resolve($"{clap},{proj},{gate}");
            Assert.Equal((gate, proj, clap), (files.GateDict, files.Projector, files.Clap));
        }
    }

    /// <summary>The SD folders of a bundle (same weights; seeds alone are not enough while tests run in parallel).</summary>
    private static string CopySdPart(string bundle, string dir)
    {
        foreach (var part in new[] { "unet", "vae", "text_encoder", "scheduler" })
        {
            Directory.CreateDirectory(Path.Combine(dir, part));
            foreach (var f in Directory.GetFiles(Path.Combine(bundle, part))) File.Copy(f, Path.Combine(dir, part, Path.GetFileName(f)));
        }
        File.WriteAllText(Path.Combine(dir, "model_index.json"), """{"_class_name": "StableDiffusionPipeline"}""");
        return dir;
    }

    [Fact]
    public void GateDictExportsRoundTripInBothFormats()
    {
        using var tmp = new TempDir();
        using var model = tiny.Load();
        foreach (var file in new[] { "gate.pt", "gate.safetensors" })
        {
            model.Adapters.Save(tmp.File(file));
            using var src = TensorFiles.Open(tmp.File(file));
            Assert.Equal(24, src.Names.Count);
            foreach (var (name, p) in model.Adapters.Parameters())
            {
                using var t = src.Read(name);
                Assert.True(Same(t, p), $"{file}: {name}");
            }
        }
    }

    [Fact]
    public void WrongNumberOfAdapterSitesIsAOneLineError()
    {
        using var tmp = new TempDir();
        using var model = tiny.Load();
        var good = model.Adapters.ExportTensors();
        try
        {
            var missing = good.Where(kv => !kv.Key.StartsWith("up_blocks.1.attentions.1.", StringComparison.Ordinal)).ToDictionary();
            TorchZipWriter.Write(tmp.File("missing.pt"), missing);
            var extra = new Dictionary<string, Tensor>(good);
            foreach (var (k, v) in good.Where(kv => kv.Key.StartsWith("up_blocks.1.attentions.0.", StringComparison.Ordinal)).ToList())
                extra[k.Replace("up_blocks.1.attentions.0.", "down_blocks.0.attentions.0.")] = v;
            TorchZipWriter.Write(tmp.File("extra.pt"), extra);
            var (_, proj, clap) = TinySonicBundle.WriteOfficialFiles(model, tmp.File("parts"));
            var sdOnly = TinyStableDiffusion.WriteFolder(tmp.File("sd"));
            foreach (var (file, count) in new[] { ("missing.pt", 2), ("extra.pt", 4) })
            {
                var e = Assert.Throws<SonicException>(() => SonicDiffusionModel.Load(sdOnly, new OfficialSonicFiles(tmp.File(file), proj, clap)));
                Assert.Contains($"adapter weights for {count} sites, but the model places adapters at 3 sites", e.Message);
                Assert.StartsWith(tmp.File(file), e.Message);
                Assert.DoesNotContain("\n", e.Message);
            }
        }
        finally
        {
            foreach (var t in good.Values) t.Dispose();
        }
    }

    [Fact]
    public void MissingPartsAndMismatchedWidthsAreOneLineErrors()
    {
        using var tmp = new TempDir();
        var sdOnly = TinyStableDiffusion.WriteFolder(tmp.File("sd"));
        var e1 = Assert.Throws<SonicException>(() => SonicDiffusionModel.Load(sdOnly));
        Assert.Contains("no CLAP audio encoder", e1.Message);

        var bundle = TinySonicBundle.WriteBundle(tmp.File("b"));
        File.Delete(Path.Combine(bundle, SonicDiffusionModel.AdaptersFolder, SonicDiffusionModel.ConfigFile));
        var notes = new List<string>();
        using (var m = SonicDiffusionModel.Load(bundle, null, new ModelLoadOptions { Log = notes.Add }))
            Assert.Equal(3, m.Adapters.Sites.Count);
        Assert.Contains(notes, n => n.Contains("adapter sites inferred from the weights (3 sites)"));

        var cfgPath = Path.Combine(bundle, SonicDiffusionModel.AudioEncoderFolder, SonicDiffusionModel.ConfigFile);
        File.Delete(cfgPath);
        notes.Clear();
        using (var m = SonicDiffusionModel.Load(bundle, null, new ModelLoadOptions { Log = notes.Add }))
            Assert.Equal(43, m.AudioEncoder.Config.DProj);
        Assert.Contains(notes, n => n.Contains("Cnn14 config inferred"));

        var projCfg = Path.Combine(bundle, SonicDiffusionModel.AudioProjectorFolder, SonicDiffusionModel.ConfigFile);
        File.WriteAllText(projCfg, """{"audio_dim": 47, "audio_token_count": 8, "context_dim": 35, "dim_head": 8, "h": 2, "transformer_layer_count": 2}""");
        var e2 = Assert.Throws<SonicException>(() => SonicDiffusionModel.Load(bundle));
        Assert.DoesNotContain("\n", e2.Message);

        File.WriteAllText(Path.Combine(tmp.Path, "a.pt"), "x");
        Directory.CreateDirectory(tmp.File("two"));
        File.Copy(Path.Combine(bundle, SonicDiffusionModel.AdaptersFolder, SonicDiffusionModel.WeightsFile), Path.Combine(tmp.File("two"), "landscape.safetensors"));
        File.Copy(Path.Combine(bundle, SonicDiffusionModel.AdaptersFolder, SonicDiffusionModel.WeightsFile), Path.Combine(tmp.File("two"), "greatest_hits.safetensors"));
        var e3 = Assert.Throws<SonicException>(() => OfficialSonicFiles.Resolve(tmp.File("two")));
        Assert.Contains("2 gate dicts", e3.Message);
    }
}
