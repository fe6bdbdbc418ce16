using SonicDiffusion.Core;
using SonicDiffusion.Models;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>SonicDiffusion audio projector (official <c>Adapter</c>) against the projector fixtures.</summary>
public class AudioProjectorParityTests(ITestOutputHelper log)
{
    public static TheoryData<string> ForwardCases => GoldenFixture.CaseIds("projector", "forward");

    /// <summary>Released size: <c>Adapter(audio_token_count=77, transformer_layer_count=4)</c>, projector/README.md.</summary>
    private const long RealSizeParameterCount = 6_130_050;

    private static List<(string File, Dictionary<string, Tensor> Weights)> WeightCopies(GoldenFixture f)
    {
        var copies = new List<(string, Dictionary<string, Tensor>)>();
        foreach (var w in f.Weights.Select(w => w!.AsObject()).Where(w => (string?)w["format"] == "safetensors"))
        {
            Assert.Equal("sonicdiffusion-projector", (string?)w["naming"]);
            var prefix = (string?)w["key_prefix"] ?? "";
            var raw = f.Tensors((string)w["file"]!).ReadAll(ScalarType.Float32);
            var weights = raw.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal)).ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
            Assert.Equal((int)w["tensors"]!, weights.Count);
            copies.Add(((string)w["file"]!, weights));
        }
        Assert.NotEmpty(copies);
        return copies;
    }

    private static AudioProjectorConfig ConfigOf(GoldenFixture f, IReadOnlyDictionary<string, Tensor> weights) =>
        f.Config.ContainsKey("audio_token_count")
            ? AudioProjectorConfig.FromJson(f.Config.ToJsonString(), $"{f.Name}/fixture.json")
            : AudioProjectorConfig.FromTensorShapes(weights.ToDictionary(kv => kv.Key, kv => kv.Value.shape), f.Name);

    private static AudioProjector Build(GoldenFixture f, string file, Dictionary<string, Tensor> weights, string? residualMode = null)
    {
        var config = ConfigOf(f, weights);
        if (residualMode != null) config = config with { ResidualMode = residualMode };
        var model = new AudioProjector(config);
        model.LoadWeights(weights, $"{f.Name}/{file}");
        return model;
    }

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void ForwardMatchesReference(string id)
    {
        var (f, c) = GoldenFixture.Resolve(id);
        foreach (var (file, weights) in WeightCopies(f))
        {
            using var d = torch.NewDisposeScope();
            using var model = Build(f, file, weights);
            var floatElements = (long)f.Weights.Select(w => w!.AsObject()).First(w => (string?)w["file"] == file)["float_elements"]!;
            Assert.Equal(floatElements, model.parameters().Sum(p => p.numel()));

            using var audio = c.Input("audio_emb").to_type(ScalarType.Float32);
            var debug = new Dictionary<string, Tensor>();
            try
            {
                using var _ = torch.no_grad();
                using var out_ = model.Project(audio, debug);
                var outputs = new Dictionary<string, Tensor> { [c.OutputRoles.Single()] = out_ };
                foreach (var (role, t) in outputs.Concat(debug)) log.WriteLine($"{id} {file} {role}: {Cnn14ParityTests.MaxDiff(c, role, t)}");
                c.AssertAll(outputs, debug);
                foreach (var role in c.DebugRoles) Assert.True(debug.ContainsKey(role), $"debug '{role}' not produced");
            }
            finally
            {
                foreach (var t in debug.Values) t.Dispose();
            }
        }
    }

    /// <summary>
    /// Official residual mode: blocks 0..n-2 are dead (perturbing them leaves the output bit-identical), while the
    /// chained mode reads them and leaves the fixture's tolerance.
    /// </summary>
    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void EarlierBlocksAreDeadInOfficialModeButNotInChainedMode(string id)
    {
        var (f, c) = GoldenFixture.Resolve(id);
        var (file, weights) = WeightCopies(f)[0];
        using var d = torch.NewDisposeScope();
        var config = ConfigOf(f, weights);
        if (config.TransformerLayerCount < 2 || config.Chained) return;

        using var official = Build(f, file, weights, AudioProjectorConfig.ResidualOfficial);
        using var chained = Build(f, file, weights, AudioProjectorConfig.ResidualChained);
        using var audio = c.Input("audio_emb").to_type(ScalarType.Float32);
        using var _ = torch.no_grad();
        using var refOfficial = official.forward(audio);
        using var refChained = chained.forward(audio);
        var outRole = c.OutputRoles.Single();
        Assert.Null(c.Compare(outRole, refOfficial));
        Assert.NotNull(c.Compare(outRole, refChained));

        var perturbed = new Dictionary<string, Tensor>(weights);
        var g = new Generator(7);
        int dead = 0;
        foreach (var k in weights.Keys)
        {
            var idx = k.StartsWith("cross_attention.", StringComparison.Ordinal) || k.StartsWith("between_attention.", StringComparison.Ordinal)
                ? int.Parse(k.Split('.')[1]) : -1;
            if (idx < 0 || idx >= config.TransformerLayerCount - 1) continue;
            perturbed[k] = weights[k] + torch.randn(weights[k].shape, generator: g);
            dead++;
        }
        Assert.Equal(7 * (config.TransformerLayerCount - 1), dead);
        official.LoadWeights(perturbed, "perturbed");
        chained.LoadWeights(perturbed, "perturbed");
        using var pOfficial = official.forward(audio);
        using var pChained = chained.forward(audio);
        Assert.True(pOfficial.equal(refOfficial).all().item<bool>(), "official mode must not read blocks 0..n-2");
        Assert.True((pChained - refChained).abs().max().item<float>() > 1e-3, "chained mode must read blocks 0..n-2");
    }

    [Fact]
    public void RealSizeHasTheReleasedParameterCountAndNames()
    {
        using var d = torch.NewDisposeScope();
        using var model = new AudioProjector(new AudioProjectorConfig());
        var shapes = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        Assert.Equal(RealSizeParameterCount, shapes.Values.Sum(s => s.Aggregate(1L, (a, b) => a * b)));
        Assert.Empty(model.named_buffers());

        var expected = new Dictionary<string, long[]>();
        foreach (var i in new[] { 0, 2, 5, 12 }) expected[$"audio_emb_projection.{i}.weight"] = [77, i == 0 ? 1 : 77, 17];
        expected["audio_emb_projection.8.weight"] = [77, 77, 17];
        foreach (var i in new[] { 0, 2, 5, 8, 12 }) expected[$"audio_emb_projection.{i}.bias"] = [77];
        foreach (var i in new[] { 4, 7 }) expected[$"audio_emb_projection.{i}.weight"] = expected[$"audio_emb_projection.{i}.bias"] = [77, 1024];
        expected["audio_emb_projection.10.weight"] = expected["audio_emb_projection.10.bias"] = [77, 3072];
        for (int i = 0; i < 4; i++)
        {
            foreach (var p in new[] { "q", "k", "v" }) expected[$"cross_attention.{i}.to_{p}_adapter.weight"] = [320, 768];
            expected[$"between_attention.{i}.0.weight"] = [320, 320];
            expected[$"between_attention.{i}.0.bias"] = [320];
            expected[$"between_attention.{i}.2.weight"] = [768, 320];
            expected[$"between_attention.{i}.2.bias"] = [768];
        }
        expected["to_out_adapter.0.weight"] = [768, 768];
        expected["to_out_adapter.0.bias"] = [768];
        Assert.Equal(expected.Keys.OrderBy(k => k, StringComparer.Ordinal), shapes.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (k, s) in expected) Assert.True(s.SequenceEqual(shapes[k]), $"{k}: [{string.Join(",", shapes[k])}]");

        // official-spec §2.3: only the conv stack, the last block and to_out reach the output
        long live = shapes.Where(kv => !(kv.Key.StartsWith("cross_attention.", StringComparison.Ordinal) || kv.Key.StartsWith("between_attention.", StringComparison.Ordinal))
                                       || kv.Key.Split('.')[1] == "3")
            .Sum(kv => kv.Value.Aggregate(1L, (a, b) => a * b));
        Assert.Equal(2_870_466, live);
    }

    [Fact]
    public void ConfigFromTensorShapesMatchesDefaultsAndResidualModeRoundTrips()
    {
        using var d = torch.NewDisposeScope();
        using var model = new AudioProjector(new AudioProjectorConfig());
        var inferred = AudioProjectorConfig.FromTensorShapes(model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape), "model");
        Assert.Equal(new AudioProjectorConfig(), inferred);

        using var tmp = RepoPaths.NewTemp();
        var path = tmp.File("config.json");
        ConfigJson.Write(path, new AudioProjectorConfig { ResidualMode = AudioProjectorConfig.ResidualChained, AudioTokenCount = 1 });
        var text = File.ReadAllText(path);
        Assert.Contains("\"residual_mode\": \"chained\"", text);
        Assert.DoesNotContain("inner_dim", text);
        var back = ConfigJson.Read<AudioProjectorConfig>(path).Validate(path);
        Assert.True(back.Chained);
        Assert.Equal(1, back.AudioTokenCount);

        var bad = Assert.Throws<SonicException>(() => AudioProjectorConfig.FromJson("{\"residual_mode\": \"stacked\"}", "cfg.json"));
        Assert.Contains("stacked", bad.Message);
        Assert.Throws<SonicException>(() => AudioProjectorConfig.FromJson("{\"audio_dim\": 512}", "cfg.json"));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void TokenCountSetsTheNumberOfAudioTokens(int k)
    {
        using var d = torch.NewDisposeScope();
        var config = new AudioProjectorConfig { AudioTokenCount = k, TransformerLayerCount = 2 };
        using var model = new AudioProjector(config);
        using var _ = torch.no_grad();
        using var y = model.forward(torch.randn(2, 1, 1024));
        Assert.Equal(new long[] { 2, k, 768 }, y.shape);
        using var y2 = model.forward(torch.randn(2, 1024));
        Assert.Equal(new long[] { 2, k, 768 }, y2.shape);
        Assert.Throws<SonicException>(() => model.forward(torch.randn(2, 1, 1000)));
    }
}
