using SonicDiffusion.Tests.Infrastructure;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

public class FixtureHarnessTests
{
    [Fact]
    public void EveryPublicFixtureFolderIsFound()
    {
        var kinds = GoldenFixture.All.Select(f => f.Kind).ToHashSet();
        foreach (var k in new[] { "unet", "vae", "ddim", "clip_tokenizer", "clip_text", "clap_frontend", "cnn14", "projector", "gated_block", "clip", "inception_fid", "wav2clip", "paper_eval" })
            Assert.Contains(k, kinds);
    }

    [Fact]
    public void ToleranceBoundRejectsAndAccepts()
    {
        using var e = tensor(new float[] { 0f, 10f });
        using var ok = tensor(new float[] { 0.0009f, 10f });
        using var bad = tensor(new float[] { 0.0011f, 10f });
        var tol = new System.Text.Json.Nodes.JsonObject { ["mode"] = "bound", ["rel"] = 1e-4, ["abs_floor"] = 1.0 };
        Assert.Null(TensorTolerance.Check("t", ok, e, tol));
        Assert.NotNull(TensorTolerance.Check("t", bad, e, tol));
    }

    [Fact]
    public void SafetensorsReadsFixtureTensorsExactly()
    {
        // ddim alphas_cumprod[0] is 0.99915 (SD v1 scaled-linear schedule)
        var f = GoldenFixture.Get("ddim");
        var c = f.Cases.Single(c => c.Op == "schedule");
        using var ac = c.Expected("alphas_cumprod");
        Assert.Equal(1000, ac.shape[0]);
        Assert.InRange(ac[0].to_type(ScalarType.Float64).item<double>(), 0.999149, 0.999151);
    }
}
