using SonicDiffusion.Core;
using SonicDiffusion.Diagnostics;
using SonicDiffusion.Models;
using SonicDiffusion.Tests.Infrastructure;
using SonicDiffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>
/// The convolution kernels the product runs with (<see cref="CpuKernels.Configure"/>, applied to this test process as
/// to the CLI) compute what float64 references compute: forward on the small feature maps CNN14's late blocks see, and,
/// with oneDNN off as <see cref="Trainer.Run"/> sets it, the input and weight gradients of the narrow convolutions our
/// UNets end with. oneDNN's AVX-512 kernels failed exactly these on an AMD EPYC (Zen 5): wrong values and NaN.
/// </summary>
[Collection(nameof(TrainerTests))]
public class ConvolutionKernelTests
{
    private static readonly long[] Pad = [1, 1];

    /// <summary>The small-map probe through a model's convolution path (<see cref="CpuKernels.GuardConvolutions"/>): oneDNN
    /// where its verdict says right, ATen where wrong (24 → 32 on 17×8 was wrong uncapped on the Zen 5 CPU).</summary>
    [Theory]
    [InlineData(16, 24, 34, 16)]
    [InlineData(24, 32, 17, 8)]
    [InlineData(32, 48, 8, 4)]
    [InlineData(48, 64, 4, 2)]
    public void ForwardIsExactOnSmallFeatureMaps(int inChannels, int outChannels, int height, int width)
    {
        using var on = OneDnnAsConfigured();
        using var scope = NewDisposeScope();
        manual_seed(2);
        var head = new RoutedHead(inChannels, outChannels);
        var w = head.Conv.weight!.detach().to(ScalarType.Float64);
        var b = head.Conv.bias!.detach().to(ScalarType.Float64);
        for (int i = 0; i < 10; i++)
        {
            var x = randn(3, inChannels, height, width);
            using var _ = inference_mode();
            AssertClose(head.forward(x), nn.functional.conv2d(x.to(ScalarType.Float64), w, b, padding: Pad), $"forward, call {i}");
        }
    }

    private sealed class RoutedHead : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Conv2d conv;

        public RoutedHead(int inChannels, int outChannels) : base(nameof(RoutedHead))
        {
            conv = nn.Conv2d(inChannels, outChannels, 3, padding: 1);
            RegisterComponents();
            CpuKernels.GuardConvolutions(this);
        }

        public TorchSharp.Modules.Conv2d Conv => conv;

        public override Tensor forward(Tensor x) => conv.call(x);
    }

    [Theory]
    [InlineData(32, 4, 32)]
    [InlineData(32, 4, 2)]
    [InlineData(64, 4, 2)]
    [InlineData(128, 4, 1)]
    public void GradientsAreExactWithOneDnnOff(int inChannels, int outChannels, int batch)
    {
        using var off = CpuKernels.OneDnnOff();
        Assert.False(CpuKernels.OneDnn, "oneDNN is still on");
        manual_seed(1);
        using var conv = nn.Conv2d(inChannels, outChannels, 3, padding: 1);
        using var w = conv.weight!.detach().to(ScalarType.Float64);
        for (int i = 0; i < 40; i++)
        {
            using var scope = NewDisposeScope();
            var x = randn(batch, inChannels, 16, 16).requires_grad_(true);
            var y = conv.forward(x);
            var go = randn_like(y);
            var grads = torch.autograd.grad([y], [x, conv.weight!], [go]);
            var go64 = go.to(ScalarType.Float64);
            var inputRef = nn.functional.conv_transpose2d(go64, w, padding: Pad);
            var weightRef = nn.functional.conv2d(x.detach().to(ScalarType.Float64).transpose(0, 1), go64.transpose(0, 1), padding: Pad).transpose(0, 1);
            AssertClose(grads[0], inputRef, $"input gradient, call {i}");
            AssertClose(grads[1], weightRef, $"weight gradient, call {i}");
        }
    }

    private static void AssertClose(Tensor actual, Tensor expected, string what)
    {
        Assert.True(actual.isfinite().all().item<bool>(), $"{what}: not finite");
        double err = (actual.to(ScalarType.Float64) - expected).abs().max().item<double>();
        double size = expected.abs().max().item<double>();
        Assert.True(err <= 1e-5 * size, $"{what}: off by {err:g3} (largest {size:g3})");
    }

    [Fact]
    public void TrainerRunsWithOneDnnOffAndRestoresIt()
    {
        bool? before = CpuKernels.OneDnn;
        if (before is null) Assert.Fail("libtorch's oneDNN switch is not reachable");
        Assert.True(CpuKernels.TrySetOneDnn(true));
        try
        {
            using var tmp = new TempDir();
            var seen = new List<bool?>();
            using var task = new TinyTrainingTask { OnBatch = _ => seen.Add(CpuKernels.OneDnn) };
            using (var trainer = new Trainer(task, new TrainingConfig { TotalSteps = 3, BatchSize = 4, LearningRate = 1e-3 }, tmp.File("run")))
                trainer.Run();
            Assert.Equal([false, false, false], seen);
            Assert.True(CpuKernels.OneDnn);
        }
        finally { CpuKernels.TrySetOneDnn(before.Value); }
    }

    [Fact]
    public void ConfigureTurnsNnpackOffAndLeavesOneDnnUncapped()
    {
        CpuKernels.Configure();
        Assert.False(CpuKernels.Nnpack);
        Assert.Equal(Environment.GetEnvironmentVariable(CpuKernels.OneDnnIsaVariable), CpuKernels.OneDnnIsa);
        Assert.Contains("NNPACK off", CpuKernels.Describe());
        Assert.Contains("per convolution shape as its verdict says", CpuKernels.Describe());
    }

    [Fact]
    public void ConvolutionCheckJudgesEveryShapeOnceAndCatchesAWrongLayer()
    {
        manual_seed(0);
        using var unet = new UNet2DConditionModel(TinyStableDiffusion.UNetConfig);
        unet.eval();
        var cfg = TinyStableDiffusion.UNetConfig;
        using var x = randn(1, cfg.InChannels, 16, 16);
        using var ctx = randn(1, 77, cfg.CrossAttentionDim);
        using var t = full(new long[] { 1 }, 500, dtype: ScalarType.Int64);
        void Forward() => unet.forward(x, t, ctx);

        var reports = new List<ProgressInfo>();
        var results = ConvolutionCheck.Run("tiny", unet, Forward, new SyncProgress(reports.Add));
        int convs = unet.named_modules().Count(m => m.module is TorchSharp.Modules.Conv2d);
        Assert.Equal(Enumerable.Range(1, convs), reports.Where(r => r.Detail is not null).Select(r => r.Step));
        Assert.Equal(new ProgressInfo("tiny", convs, convs), reports[^1]);
        Assert.InRange(results.Count, 5, convs);
        Assert.Equal(results.Count, results.Select(r => r.Shape).Distinct().Count());
        Assert.Contains(results, r => r.Layer == "conv_out" && r.Shape.StartsWith($"{cfg.BlockOutChannels[0]}→{cfg.OutChannels} k3×3 s1 on 16×16"));
        Assert.All(results, r => Assert.True(r.Finite && r.RelativeError < 1e-5, $"{r.Layer}: {r.RelativeError}"));

        var convOut = (TorchSharp.Modules.Conv2d)unet.named_modules().Single(m => m.name == "conv_out").module;
        var corrupt = convOut.register_forward_hook((_, _, output) => output.index_fill(1, tensor(new long[] { 1 }), 0.5f));
        try
        {
            var again = ConvolutionCheck.Run("tiny", unet, Forward);
            var bad = Assert.Single(again, r => r.RelativeError > 1e-4);
            Assert.Equal("conv_out", bad.Layer);
        }
        finally { corrupt.remove(); }
        Assert.All(ConvolutionCheck.Run("tiny", unet, Forward), r => Assert.True(r.RelativeError < 1e-5, r.Layer));
    }

    [Fact]
    public void BenchKernelsChecksTheBundlesConvolutionsAndRefusesUnknownModels()
    {
        using var tmp = new TempDir();
        string bundle = TinySonicBundle.WriteBundle(tmp.File("bundle"));
        var (code, output, err) = CliTests.Sonic("bench", "kernels", "--models", "mini,small", "--model", bundle, "--dtypes", "float32");
        Assert.True(code == 0, err + output);
        Assert.Matches(@"float32 .*bundle: UNet, VAE, audio encoder: \d+ convolution shapes, 0 off", output);
        Assert.Matches(@"float32 small feature maps .*: 4 convolution shapes, 0 off", output);
        Assert.Contains("all convolutions within tolerance", output);
        (code, _, err) = CliTests.Sonic("bench", "kernels", "--models", "mini,sdxl");
        Assert.Equal(1, code);
        Assert.Contains("--models sdxl: unknown", err);
        Assert.Single(err.Trim().Split('\n'));
        (code, _, err) = CliTests.Sonic("bench", "kernels", "--models", "sd-unet", "--latent", "0");
        Assert.Equal(1, code);
        Assert.Equal("error: --latent 0: give a latent side of at least 8 (64 = 512² images)", err.Trim());
    }

    [Fact]
    public void NarrowConvolutionsRunInFloat32UnderBfloat16()
    {
        manual_seed(3);
        var cfg = TinyStableDiffusion.UNetConfig;
        using var unet = new UNet2DConditionModel(cfg);
        unet.eval();
        using var x = randn(1, cfg.InChannels, 16, 16);
        using var ctx = randn(1, 77, cfg.CrossAttentionDim);
        using var t = full(new long[] { 1 }, 500, dtype: ScalarType.Int64);
        using var mode = inference_mode();
        using var reference = unet.forward(x, t, ctx);

        Assert.Equal(0, CpuKernels.KeepNarrowConvolutionsInFloat32(unet, ScalarType.Float32, CPU));
        unet.to(ScalarType.BFloat16);
        var narrow = unet.named_modules().Where(m => m.module is TorchSharp.Modules.Conv2d c && c.weight!.shape[0] < CpuKernels.NarrowOutputChannels && c.weight.shape[2] > 1)
            .Select(m => m.name).ToList();
        Assert.Contains("conv_out", narrow);
        Assert.Equal(narrow.Count, CpuKernels.KeepNarrowConvolutionsInFloat32(unet, ScalarType.BFloat16, CPU));
        Assert.Equal(narrow.Count, CpuKernels.KeepNarrowConvolutionsInFloat32(unet, ScalarType.BFloat16, CPU));   // again: no second pair of hooks
        foreach (var (name, module) in unet.named_modules())
            if (module is TorchSharp.Modules.Conv2d conv)
                Assert.Equal(narrow.Contains(name) ? ScalarType.Float32 : ScalarType.BFloat16, conv.weight!.dtype);

        using var y = unet.forward(x.to(ScalarType.BFloat16), t, ctx.to(ScalarType.BFloat16));
        Assert.Equal(ScalarType.BFloat16, y.dtype);
        double err = (y.to(ScalarType.Float32) - reference).abs().max().item<float>(), size = reference.abs().max().item<float>();
        Assert.True(err < 0.05 * size, $"bfloat16 UNet off by {err} (largest {size})");
    }

    /// <summary>oneDNN on (as <see cref="CpuKernels.Configure"/> leaves it) until disposed, whatever earlier tests switched.</summary>
    private static IDisposable OneDnnAsConfigured()
    {
        bool before = CpuKernels.OneDnn ?? throw new InvalidOperationException("libtorch's oneDNN switch is not reachable");
        Assert.True(CpuKernels.TrySetOneDnn(true));
        return new Restore(() => CpuKernels.TrySetOneDnn(before));
    }

    private sealed class Restore(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    /// <summary>A 32 → 4 channel 3×3 head, called through <c>call</c> like the models' convolutions.</summary>
    private sealed class NarrowHead : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Conv2d conv = nn.Conv2d(32, 4, 3, padding: 1);

        public NarrowHead() : base(nameof(NarrowHead))
        {
            RegisterComponents();
            CpuKernels.GuardAutogradConvolutions(this);
        }

        public TorchSharp.Modules.Conv2d Conv => conv;

        public override Tensor forward(Tensor x) => conv.call(x);
    }

    [Fact]
    public void AConvolutionRecordedForAutogradTurnsOneDnnOffSoItsGradientsAreExact()
    {
        using var on = OneDnnAsConfigured();
        manual_seed(1);
        using var head = new NarrowHead();
        using var w = head.Conv.weight!.detach().to(ScalarType.Float64);
        using (inference_mode()) head.forward(randn(2, 32, 16, 16)).Dispose();
        using (no_grad()) head.forward(randn(2, 32, 16, 16)).Dispose();
        Assert.True(CpuKernels.OneDnn, "inference turned oneDNN off");
        for (int i = 0; i < 40; i++)
        {
            using var scope = NewDisposeScope();
            var x = randn(32, 32, 16, 16).requires_grad_(true);
            var y = head.forward(x);
            Assert.False(CpuKernels.OneDnn, "a recorded convolution left oneDNN on");
            var go = randn_like(y);
            var grads = torch.autograd.grad([y], [x, head.Conv.weight!], [go]);
            var go64 = go.to(ScalarType.Float64);
            AssertClose(grads[0], nn.functional.conv_transpose2d(go64, w, padding: Pad), $"input gradient, call {i}");
            AssertClose(grads[1], nn.functional.conv2d(x.detach().to(ScalarType.Float64).transpose(0, 1), go64.transpose(0, 1), padding: Pad).transpose(0, 1), $"weight gradient, call {i}");
        }
        Assert.Contains("since a convolution was recorded for autograd", CpuKernels.Describe());
    }

    [Fact]
    public void InfoPrintsTheKernelChoiceAndTheVerdicts()
    {
        var (code, output, err) = CliTests.Sonic("info");
        Assert.True(code == 0, err);
        Assert.Matches(@"cpu kernels: oneDNN (on|off) .*NNPACK off", output);
        Assert.Matches(@"convolution verdicts: (none checked yet|\d+ convolution shapes checked, \d+ run through ATen)", output);
    }
}
