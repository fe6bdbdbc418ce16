using SonicDiffusion.Core;
using SonicDiffusion.Tests.Infrastructure;
using SonicDiffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>
/// Training gets exact convolution gradients: with oneDNN off (as <see cref="Trainer.Run"/> sets it) the input and
/// weight gradients of the narrow convolutions our UNets and VAEs end with (→ 4 channels, 3×3, 16×16) equal float64
/// references. oneDNN's backward pass failed exactly these on an AMD EPYC with AVX-512 (wrong values and NaN).
/// </summary>
[Collection(nameof(TrainerTests))]
public class ConvolutionGradientTests
{
    [Theory]
    [InlineData(32, 4, 32)]
    [InlineData(32, 4, 2)]
    [InlineData(64, 4, 2)]
    [InlineData(128, 4, 1)]
    public void GradientsAreExactWithOneDnnOff(int inChannels, int outChannels, int batch)
    {
        using var off = OneDnn.Off();
        Assert.False(OneDnn.Enabled, "oneDNN is still on");
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
            var pad = new long[] { 1, 1 };
            var inputRef = nn.functional.conv_transpose2d(go64, w, padding: pad);
            var weightRef = nn.functional.conv2d(x.detach().to(ScalarType.Float64).transpose(0, 1), go64.transpose(0, 1), padding: pad).transpose(0, 1);
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
        if (OneDnn.Enabled is null) Assert.Fail("libtorch's oneDNN switch is not reachable");
        Assert.True(OneDnn.TrySet(true));
        using var tmp = new TempDir();
        var seen = new List<bool?>();
        using var task = new TinyTrainingTask { OnBatch = _ => seen.Add(OneDnn.Enabled) };
        using (var trainer = new Trainer(task, new TrainingConfig { TotalSteps = 3, BatchSize = 4, LearningRate = 1e-3 }, tmp.File("run")))
            trainer.Run();
        Assert.Equal([false, false, false], seen);
        Assert.True(OneDnn.Enabled);
    }
}
