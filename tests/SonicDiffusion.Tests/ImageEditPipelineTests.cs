using SonicDiffusion.Imaging;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>DDIM inversion + PnP editing on the tiny random bundle.</summary>
public class ImageEditPipelineTests(TinySonicFixture tiny, ITestOutputHelper output) : IClassFixture<TinySonicFixture>
{
    /// <summary>A smooth colour image (gradients + a disc) written as PNG.</summary>
    public static string WriteSource(string path, int width = 64, int height = 64)
    {
        using var scope = torch.NewDisposeScope();
        var y = torch.linspace(0, 1, height).reshape(height, 1).expand(height, width);
        var x = torch.linspace(0, 1, width).reshape(1, width).expand(height, width);
        var disc = ((x - 0.6).pow(2) + (y - 0.4).pow(2)).lt(0.05).to_type(ScalarType.Float32);
        var img = torch.stack(new[] { x * 0.8 + 0.1, y * 0.6 + 0.2 * disc, 0.3 + 0.5 * disc }, 0).unsqueeze(0);
        ImageTensor.SavePng(img, path);
        return path;
    }

    private static double MaxAbs(Tensor a, Tensor b) => (a - b).abs().max().item<float>();
    private static double Rms(Tensor a) => a.square().mean().sqrt().item<float>();
    private static bool Same(Tensor a, Tensor b) => a.equal(b).all().item<bool>();

    /// <summary>
    /// Scales the UNet output layer: 0 makes ε a constant (the bias), independent of x and t, so inversion and sampling
    /// are exact inverses whatever the pairing errors of a network; small values give a smooth ε (a random full-scale
    /// UNet has an ε far too rough in x for the ε(x_t) ≈ ε(x_t−1) approximation DDIM inversion rests on).
    /// </summary>
    private static void DampOutput(SonicDiffusionModel model, double scale)
    {
        using var _ = torch.no_grad();
        model.Sd.Unet.conv_out.weight!.mul_(scale);
    }

    /// <summary>Measured (50 steps): damp 0 → max |Δ| 1.2e-7; damp 0.02 → 4.3e-3 (latent rms 0.05).</summary>
    [Theory]
    [InlineData(0.0, 1e-4)]
    [InlineData(0.02, 1e-2)]
    public void InversionThenPlainDdimReconstructsTheSourceLatent(double damp, double tolerance)
    {
        using var model = tiny.Load();
        DampOutput(model, damp);
        var pipe = new ImageEditPipeline(model);
        using var source = pipe.Prepare(WriteSource(tiny.Temp.File("recon.png")), ImageFit.Resize);
        using var z0 = pipe.EncodeSource(source);
        var chain = pipe.InvertLatent(z0, 50);
        try
        {
            Assert.Equal(51, chain.Count);
            Assert.True(Same(chain[0], z0));
            using var recon = pipe.Reconstruct(chain);
            double err = MaxAbs(recon, z0), rms = Rms(z0), drift = MaxAbs(chain[^1], z0);
            output.WriteLine($"damp {damp}: reconstruction max |Δ| = {err:E3}, latent rms = {rms:F4}, inverted-noise drift max |Δ| = {drift:F3}");
            Assert.True(drift > 0.1, "the inversion moved the latent");
            Assert.True(err < tolerance, $"reconstruction error {err}");
        }
        finally
        {
            foreach (var t in chain) t.Dispose();
        }
    }

    /// <summary>Measured: damp 0 → 1.2e-7 (latent), 5e-6 (pixels); damp 0.02 → 4.2e-3 (latent), 7.2e-2 (pixels, random VAE).</summary>
    [Theory]
    [InlineData(0.0, 1e-4, 1e-4)]
    [InlineData(0.02, 1e-2, 0.15)]
    public void FullInjectionWithTheSourceConditioningReproducesTheSource(double damp, double tolerance, double pixelTolerance)
    {
        using var model = tiny.Load();
        DampOutput(model, damp);
        var pipe = new ImageEditPipeline(model);
        var req = new ImageEditRequest { Image = WriteSource(tiny.Temp.File("same.png")), Steps = 50, FeatureInjection = 1, AttnInjection = 1 };
        using var source = pipe.Prepare(req.Image, req.Fit);
        using var z0 = pipe.EncodeSource(source);
        var chain = pipe.InvertLatent(z0, req.Steps);
        try
        {
            using var edited = pipe.EditLatents(chain, req);
            double err = MaxAbs(edited, z0);
            output.WriteLine($"damp {damp}: edit with source conditioning: max |Δ| to source latent = {err:E3}");
            Assert.True(err < tolerance, $"edit error {err}");
            using var image = model.Sd.DecodeToImage(edited);
            using var decodedSource = model.Sd.DecodeToImage(z0);
            double pix = MaxAbs(image, decodedSource);
            output.WriteLine($"damp {damp}: decoded max |Δ| = {pix:E3}");
            Assert.True(pix < pixelTolerance, $"pixel error {pix}");
        }
        finally
        {
            foreach (var t in chain) t.Dispose();
        }
    }

    [Fact]
    public void HooksAreRemovedAfterAnEdit()
    {
        using var model = tiny.Load();
        var gen = new AudioToImagePipeline(model);
        var genReq = new AudioToImageRequest { Audio = tiny.Tone, Steps = 3, Width = 64, Height = 64, Seed = 7, Scheduler = "ddim" };
        using var before = gen.Generate(genReq);
        var pipe = new ImageEditPipeline(model);
        var (conv, attn) = PnpInjection.Sites(model.Sd.Unet);
        Assert.Equal(["up_blocks.1.resnets.1"], conv.Select(c => c.Name));
        Assert.Equal(["up_blocks.1.attentions.1.transformer_blocks.0.attn1"], attn.Select(a => a.Name));
        using (var edited = pipe.Edit(new ImageEditRequest { Image = WriteSource(tiny.Temp.File("hooks.png")), Audio = tiny.Noise, Steps = 4 }))
            Assert.True(edited.isfinite().all().item<bool>());
        Assert.All(conv, c => Assert.Null(c.Block.ResidualHook));
        Assert.All(attn, a => Assert.Same(AttnProcessor.Default, a.Attn.Processor));
        using var after = gen.Generate(genReq);
        Assert.True(Same(before, after), "generate after an edit is bit-identical");

        // hooks go even when the edit fails midway
        using var cts = new CancellationTokenSource();
        var stop = new SyncProgress(p => { if (p.Stage == "edit" && p.Step == 2) cts.Cancel(); });
        Assert.ThrowsAny<OperationCanceledException>(() => pipe.Edit(new ImageEditRequest { Image = tiny.Temp.File("hooks.png"), Audio = tiny.Noise, Steps = 4 }, stop, cts.Token));
        Assert.All(conv, c => Assert.Null(c.Block.ResidualHook));
        Assert.All(attn, a => Assert.Same(AttnProcessor.Default, a.Attn.Processor));
    }

    private sealed class SyncProgress(Action<Core.ProgressInfo> f) : IProgress<Core.ProgressInfo>
    {
        public void Report(Core.ProgressInfo value) => f(value);
    }

    /// <summary>Loads the tiny bundle, inverts a smooth source written as <paramref name="file"/> and runs <paramref name="body"/> on the chain (disposed after).</summary>
    private void OnInvertedSource(string file, int steps, Action<ImageEditPipeline, ImageEditRequest, IReadOnlyList<Tensor>> body)
    {
        using var model = tiny.Load();
        var pipe = new ImageEditPipeline(model);
        var req = new ImageEditRequest { Image = WriteSource(tiny.Temp.File(file)), Audio = tiny.Tone, Steps = steps };
        using var source = pipe.Prepare(req.Image, req.Fit);
        var chain = pipe.Invert(source, req.Steps);
        try { body(pipe, req, chain); }
        finally
        {
            foreach (var t in chain) t.Dispose();
        }
    }

    [Fact]
    public void InjectionAndTheSoundChangeTheEdit() => OnInvertedSource("sound.png", 10, (pipe, req, chain) =>
    {
        using var a = pipe.EditLatents(chain, req);
        using var a2 = pipe.EditLatents(chain, req);
        using var b = pipe.EditLatents(chain, req with { Audio = tiny.Noise });
        using var c = pipe.EditLatents(chain, req with { FeatureInjection = 0, AttnInjection = 0 });
        using var d = pipe.EditLatents(chain, req with { Audio = null, Prompt = "a red barn" });
        using var e = pipe.EditLatents(chain, req with { FeatureInjection = 0.5 });
        Assert.True(Same(a, a2), "deterministic");
        Assert.False(Same(a, b), "the sound matters");
        Assert.False(Same(a, c), "injection matters");
        Assert.False(Same(a, d), "text-only PnP differs");
        Assert.False(Same(a, e), "the feature fraction matters");
    });

    [Fact]
    public void SourceFeaturesRecordedByOneEditServeTheNextWithoutTheSourceBranch() => OnInvertedSource("features.png", 10, (pipe, req, chain) =>
    {
        var other = req with { Audio = tiny.Noise };
        using var plain = pipe.EditLatents(chain, other);
        using var firstPlain = pipe.EditLatents(chain, req);
        using var features = new PnpSourceFeatures();
        using var first = pipe.EditLatents(chain, req, sourceFeatures: features);
        Assert.True(Same(first, firstPlain), "recording changed the edit");
        Assert.Equal(8, features.Steps);   // ⌊10 · 0.8⌋ injected timesteps
        Assert.Equal(0, features.ReplayedSteps);

        using var replayed = pipe.EditLatents(chain, other, sourceFeatures: features);
        Assert.Equal(8, features.ReplayedSteps);
        double err = MaxAbs(replayed, plain), size = plain.abs().max().item<float>();
        output.WriteLine($"replayed vs with the source branch: max |Δ| {err:g3} (largest {size:g3})");
        Assert.True(err <= 1e-4 * size, $"replayed edit off by {err} (largest {size})");
        Assert.False(Same(replayed, first), "the second sound was not used");

        using var wider = pipe.EditLatents(chain, other with { FeatureInjection = 1, AttnInjection = 1 }, sourceFeatures: features);
        Assert.Equal(10, features.Steps);   // the two missing timesteps recorded, the eight held ones replayed
        Assert.Equal(16, features.ReplayedSteps);

        using var weaker = pipe.EditLatents(chain, other with { Beta = 0.5 }, sourceFeatures: features);
        using var weakerPlain = pipe.EditLatents(chain, other with { Beta = 0.5 });
        Assert.True(Same(weaker, weakerPlain), "features recorded at another β were replayed");
        Assert.Equal(16, features.ReplayedSteps);
    });

    [Fact]
    public void EditsWithAndWithoutSourceFeaturesLeakNoTensors() => OnInvertedSource("leak.png", 4, (pipe, req, chain) =>
    {
        using (var warm = pipe.EditLatents(chain, req)) { }
        using (var warm = pipe.EditLatents(chain, req with { Audio = tiny.Noise })) { }   // both sounds' embeddings cached before counting
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using (var plain = pipe.EditLatents(chain, req)) { }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        using (var features = new PnpSourceFeatures())
        {
            using (var first = pipe.EditLatents(chain, req, sourceFeatures: features)) { }
            using (var second = pipe.EditLatents(chain, req with { Audio = tiny.Noise }, sourceFeatures: features)) { }
            using (var rebound = pipe.EditLatents(chain, req with { Beta = 0.5 }, sourceFeatures: features)) { }
            Assert.Equal(3, features.Steps);
            Assert.Equal(3, features.ReplayedSteps);
        }
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    });

    [Fact]
    public void NonSquareSourcesComeBackAtTheirSize()
    {
        using var model = tiny.Load();
        var pipe = new ImageEditPipeline(model);
        var path = WriteSource(tiny.Temp.File("wide.png"), 100, 60);
        foreach (var (fit, inW, inH, outW, outH) in new[] { (ImageFit.Resize, 104, 64, 100, 60), (ImageFit.Crop, 64, 64, 60, 60), (ImageFit.Pad, 64, 64, 100, 60) })
        {
            using var source = pipe.Prepare(path, fit);
            Assert.Equal((inW, inH), (source.Geometry.InputWidth, source.Geometry.InputHeight));
            using var edited = pipe.Edit(new ImageEditRequest { Image = path, Audio = tiny.Tone, Steps = 2, Fit = fit });
            Assert.Equal(new long[] { 1, 3, outH, outW }, edited.shape);
        }
    }

    [Fact]
    public void InversionsAreCachedOnDisk()
    {
        using var model = tiny.Load();
        var cache = new InversionCache(tiny.Temp.File("inv-cache"));
        var pipe = new ImageEditPipeline(model, cache);
        var path = WriteSource(tiny.Temp.File("cached.png"));
        using var source = pipe.Prepare(path, ImageFit.Resize);
        var first = pipe.Invert(source, 5);
        Assert.False(pipe.LastInversionCached);
        var second = pipe.Invert(source, 5);
        Assert.True(pipe.LastInversionCached);
        var other = pipe.Invert(source, 6);
        Assert.False(pipe.LastInversionCached);
        try
        {
            Assert.Equal(first.Count, second.Count);
            for (int i = 0; i < first.Count; i++) Assert.True(Same(first[i], second[i]));
            Assert.Equal(2, Directory.GetFiles(cache.Directory, "*.safetensors").Length);
            using var a = pipe.EditLatents(first, new ImageEditRequest { Image = path, Audio = tiny.Tone, Steps = 5 });
            using var b = pipe.EditLatents(second, new ImageEditRequest { Image = path, Audio = tiny.Tone, Steps = 5 });
            Assert.True(Same(a, b));
        }
        finally
        {
            foreach (var t in first.Concat(second).Concat(other)) t.Dispose();
        }
    }
}
