using SonicDiffusion.Core;
using SonicDiffusion.Imaging;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

public sealed class TinyModelFixture : IDisposable
{
    public TempDir Temp { get; } = new();
    public string Folder { get; }
    public TinyModelFixture() => Folder = TinyStableDiffusion.WriteFolder(Temp.File("tiny-sd"));
    public void Dispose() => Temp.Dispose();
}

public class PipelineTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    private static readonly TextToImageRequest Request = new() { Prompt = "a campfire at night", Steps = 4, Width = 64, Height = 64, Seed = 7, Guidance = 5 };

    [Fact]
    public void LoadsDiffusersFolderAndGeneratesReproducibly()
    {
        using var model = StableDiffusionComponents.Load(tiny.Folder);
        Assert.Contains(model.Notes, n => n.Contains("tokenizer"));
        var pipe = new TextToImagePipeline(model);
        using var a = pipe.Generate(Request);
        using var b = pipe.Generate(Request);
        using var c = pipe.Generate(Request with { Seed = 8 });
        Assert.Equal(new long[] { 1, 3, 64, 64 }, a.shape);
        Assert.True(a.isfinite().all().item<bool>());
        Assert.True(a.equal(b).all().item<bool>(), "same seed must give the same image");
        Assert.False(a.equal(c).all().item<bool>(), "another seed must give another image");
        Assert.InRange(a.min().item<float>(), 0f, 1f);
    }

    [Theory]
    [InlineData("ddim", 4)]
    [InlineData("pndm", 5)]
    [InlineData("dpm++2m", 4)]
    public void EverySchedulerReportsEachModelCall(string scheduler, int calls)
    {
        using var model = StableDiffusionComponents.Load(tiny.Folder);
        var pipe = new TextToImagePipeline(model);
        var reports = new List<ProgressInfo>();
        using var latent = pipe.GenerateLatents(Request with { Scheduler = scheduler }, new SyncProgress(reports.Add));
        Assert.Equal(calls, reports.Count(r => r.Stage == "denoise" && r.Step > 0));
        Assert.Equal(new long[] { 1, 4, 8, 8 }, latent.shape);
    }

    [Fact]
    public void NoTensorsLeakAcrossSteps()
    {
        using var model = StableDiffusionComponents.Load(tiny.Folder);
        var pipe = new TextToImagePipeline(model);
        using (var warm = pipe.GenerateLatents(Request with { Steps = 2 })) { }
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using (var l = pipe.GenerateLatents(Request with { Steps = 3 })) { }
        long mid = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using (var l = pipe.GenerateLatents(Request with { Steps = 9 })) { }
        long after = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        Assert.Equal(before, mid);
        Assert.Equal(before, after);
    }

    [Fact]
    public void CancellationStopsTheSampler()
    {
        using var model = StableDiffusionComponents.Load(tiny.Folder);
        var pipe = new TextToImagePipeline(model);
        using var cts = new CancellationTokenSource();
        int seen = 0;
        var progress = new SyncProgress(p => { if (p.Stage == "denoise" && p.Step == 2) cts.Cancel(); seen = Math.Max(seen, p.Step); });
        Assert.ThrowsAny<OperationCanceledException>(() => pipe.Generate(Request with { Steps = 10, Scheduler = "ddim" }, progress, cts.Token));
        Assert.Equal(2, seen);
    }

    [Fact]
    public void PngCarriesGenerationParameters()
    {
        using var model = StableDiffusionComponents.Load(tiny.Folder);
        using var image = new TextToImagePipeline(model).Generate(Request);
        var path = tiny.Temp.File("out.png");
        ImageTensor.SavePng(image, path, Request.ToMetadata());
        var meta = PngText.Read(path);
        Assert.Equal("a campfire at night", meta["prompt"]);
        Assert.Equal("7", meta["seed"]);
        Assert.Equal("64x64", meta["size"]);
        using var back = ImageTensor.Load(path);
        Assert.Equal(image.shape, back.shape);
        Assert.True((back - image).abs().max().item<float>() <= 0.5f / 255 + 1e-6f);
    }

    [Fact]
    public void MissingComponentIsOneClearLine()
    {
        using var tmp = new TempDir();
        var dir = TinyStableDiffusion.WriteFolder(tmp.File("m"));
        Directory.Delete(Path.Combine(dir, "vae"), true);
        var e = Assert.Throws<SonicException>(() => StableDiffusionComponents.Load(dir));
        Assert.Contains("vae", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    [Fact]
    public void MissingConfigIsInferredFromShapesAndSaid()
    {
        using var tmp = new TempDir();
        var dir = TinyStableDiffusion.WriteFolder(tmp.File("m"));
        File.Delete(Path.Combine(dir, "unet", "config.json"));
        var notes = new List<string>();
        using var model = StableDiffusionComponents.Load(dir, new ModelLoadOptions { Log = notes.Add });
        Assert.Contains(notes, n => n.Contains("inferred from tensor shapes"));
        Assert.Equal(TinyStableDiffusion.UNetConfig.BlockOutChannels, model.Unet.Config.BlockOutChannels);
    }

    [Fact]
    public void Float16ComputeOnCpuIsRefused()
    {
        var e = Assert.Throws<SonicException>(() => StableDiffusionComponents.Load(tiny.Folder, new ModelLoadOptions { Dtype = ScalarType.Float16 }));
        Assert.Contains("float16", e.Message);
    }
}

/// <summary>IProgress that reports synchronously (System.Progress posts to a thread pool).</summary>
public sealed class SyncProgress(Action<ProgressInfo> report) : IProgress<ProgressInfo>
{
    public void Report(ProgressInfo value) => report(value);
}
