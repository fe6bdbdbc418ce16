using SonicDiffusion.Imaging;
using SonicDiffusion.Schedulers;
using SonicDiffusion.Studio.Engines;
using TorchSharp;

namespace SonicDiffusion.Tests;

public class StudioPreviewTests
{
    [Theory]
    [InlineData("epsilon")]
    [InlineData("v_prediction")]
    public void PredictedX0UndoesTheForwardProcess(string prediction)
    {
        var schedule = new NoiseSchedule(SchedulerConfig.StableDiffusionV1);
        var gen = new torch.Generator(3);
        using var x0 = torch.randn(new long[] { 1, 4, 6, 6 }, generator: gen);
        using var eps = torch.randn(new long[] { 1, 4, 6, 6 }, generator: gen);
        const int t = 601;
        double ab = schedule.AlphaCumprod(t);
        using var xt = x0 * Math.Sqrt(ab) + eps * Math.Sqrt(1 - ab);
        using var output = prediction == "epsilon" ? eps.clone() : eps * Math.Sqrt(ab) - x0 * Math.Sqrt(1 - ab);
        using var got = LatentPreview.PredictX0(xt, output, ab, prediction);
        Assert.True(got.allclose(x0, rtol: 1e-4, atol: 1e-4));
    }

    [Fact]
    public void PreviewIsASmallRgbPng()
    {
        using var latent = torch.zeros(1, 4, 8, 8);
        latent[0, 0] = torch.ones(8, 8);
        var png = LatentPreview.EncodePng(latent);
        using var img = ImageTensor.Decode(png, "preview");
        Assert.Equal(new long[] { 1, 3, 128, 128 }, img.shape);
        // channel 0 = 1 → RGB ≈ (1 + factors of row 0) / 2
        var px = img[0, .., 5, 5].data<float>().ToArray();
        Assert.Equal((1 + 0.3512) / 2, px[0], 1.0 / 255);
        Assert.Equal((1 + 0.2297) / 2, px[1], 1.0 / 255);
        Assert.Equal((1 + 0.3227) / 2, px[2], 1.0 / 255);
    }
}
