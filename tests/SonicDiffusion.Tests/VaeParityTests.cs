using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

public class VaeParityTests
{
    public static TheoryData<string> Cases => GoldenFixture.CaseIds("vae");
    public static TheoryData<string> DecodeCases => GoldenFixture.CaseIds("vae", "decode");

    internal static AutoencoderKLConfig ConfigOf(GoldenFixture fx)
    {
        Assert.NotNull(fx.DiffusersConfig);
        return ConfigJson.Parse<AutoencoderKLConfig>(fx.DiffusersConfig!.ToJsonString(), $"{fx.Name}/fixture.json diffusers_config");
    }

    internal static AutoencoderKL Load(GoldenFixture fx, System.Text.Json.Nodes.JsonObject entry)
    {
        var raw = FixtureWeights.ReadFloat32(fx, entry, "compvis-single-file");
        try
        {
            var source = fx.PathOf((string)entry["file"]!);
            var converted = CheckpointConverter.VaeFromCompVis(raw, source);
            var cfg = ConfigOf(fx);
            var (inferred, note) = AutoencoderKLConfig.FromTensorShapes(CheckpointConverter.Shapes(converted));
            Assert.Contains("scaling_factor", note);
            Assert.Equal(cfg.BlockOutChannels, inferred.BlockOutChannels);
            Assert.Equal(cfg.LayersPerBlock, inferred.LayersPerBlock);
            Assert.Equal(cfg.InChannels, inferred.InChannels);
            Assert.Equal(cfg.OutChannels, inferred.OutChannels);
            Assert.Equal(cfg.LatentChannels, inferred.LatentChannels);

            var model = new AutoencoderKL(cfg);
            var report = WeightLoader.Load(model, converted, source);
            Assert.True(report.IsComplete, report.Describe());
            model.eval();
            return model;
        }
        finally { FixtureWeights.DisposeAll(raw.Values); }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void CaseMatchesReference(string id)
    {
        var (fx, c) = GoldenFixture.Resolve(id);
        foreach (var entry in FixtureWeights.SafetensorsEntries(fx))
        {
            using var vae = Load(fx, entry);
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var debug = new Dictionary<string, Tensor>();
            try
            {
                switch (c.Op)
                {
                    case "encode":
                    {
                        using var posterior = vae.Encode(c.Input("image"), debug);
                        Assert.Equal(Array.Empty<string>(), c.DebugRoles.Where(r => !debug.ContainsKey(r)).ToArray());
                        c.AssertAll(new Dictionary<string, Tensor> { ["posterior_mean"] = posterior.Mean, ["posterior_logvar"] = posterior.LogVar }, debug);
                        break;
                    }
                    case "decode":
                    {
                        var decoded = vae.Decode(c.Input("z"), debug);
                        Assert.Equal(Array.Empty<string>(), c.DebugRoles.Where(r => !debug.ContainsKey(r)).ToArray());
                        c.AssertAll(new Dictionary<string, Tensor> { ["decoded"] = decoded }, debug);
                        break;
                    }
                    default:
                        Assert.Fail($"{id}: unknown vae op '{c.Op}'");
                        break;
                }
            }
            finally { FixtureWeights.DisposeAll(debug.Values); }
        }
    }

    [Theory]
    [MemberData(nameof(DecodeCases))]
    public void LatentHelpersApplyTheScalingFactor(string id)
    {
        var (fx, c) = GoldenFixture.Resolve(id);
        using var vae = Load(fx, FixtureWeights.SafetensorsEntries(fx)[0]);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        double sf = vae.Config.ScalingFactor;
        Assert.Equal((double)fx.DiffusersConfig!["scaling_factor"]!, sf);
        var z = c.Input("z");
        var decoded = vae.DecodeLatents(z * sf);
        c.AssertAll(new Dictionary<string, Tensor> { ["decoded"] = decoded });

        var image = decoded.clamp(-1, 1);
        using var posterior = vae.Encode(image);
        var latents = vae.EncodeToLatents(image);
        Assert.True(latents.allclose(posterior.Mean * sf, rtol: 1e-6, atol: 0));
        Assert.True(posterior.Std.allclose((posterior.LogVar * 0.5).exp(), rtol: 1e-6, atol: 0));
        var s1 = posterior.Sample(new Generator(3));
        var s2 = posterior.Sample(new Generator(3));
        Assert.True(s1.equal(s2).all().item<bool>(), "sampling with equal generators must repeat");
        Assert.False(s1.allclose(posterior.Mean, rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void LogVarIsClamped()
    {
        using var moments = cat(new[] { zeros(1, 2, 1, 1), tensor(new float[] { -100f, 100f }).reshape(1, 2, 1, 1) }, 1);
        using var d = new DiagonalGaussianDistribution(moments);
        Assert.Equal(-30f, d.LogVar[0, 0, 0, 0].item<float>());
        Assert.Equal(20f, d.LogVar[0, 1, 0, 0].item<float>());
    }
}
