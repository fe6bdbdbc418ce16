using SonicDiffusion.Core;
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

    [Theory]
    [InlineData(16, 24, 34, 16)]
    [InlineData(24, 32, 17, 8)]
    [InlineData(32, 48, 8, 4)]
    [InlineData(48, 64, 4, 2)]
    public void ForwardIsExactOnSmallFeatureMaps(int inChannels, int outChannels, int height, int width)
    {
        using var scope = NewDisposeScope();
        manual_seed(2);
        var w = randn(outChannels, inChannels, 3, 3) / Math.Sqrt(9 * inChannels);
        for (int i = 0; i < 10; i++)
        {
            var x = randn(3, inChannels, height, width);
            using var _ = no_grad();
            AssertClose(nn.functional.conv2d(x, w, padding: Pad), nn.functional.conv2d(x.to(ScalarType.Float64), w.to(ScalarType.Float64), padding: Pad), $"forward, call {i}");
        }
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
    public void ConfigureTurnsNnpackOffAndCapsOneDnnOnAvx512()
    {
        CpuKernels.Configure();
        Assert.False(CpuKernels.Nnpack);
        if (Diagnostics.CpuInfo.Current.HasAvx512) Assert.NotNull(CpuKernels.OneDnnIsa);
        Assert.Contains("NNPACK off", CpuKernels.Describe());
    }
}
