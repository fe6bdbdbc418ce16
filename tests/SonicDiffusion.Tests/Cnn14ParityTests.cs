using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Tests.Infrastructure;
using Xunit.Abstractions;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>
/// CLAP 2022 audio encoder (Cnn14 + Projection) against the cnn14 fixtures: op "forward" (log-mel in) and op
/// "forward_waveform" (44.1 kHz waveform through the front end built from the fixture config, then the encoder).
/// </summary>
public class Cnn14ParityTests(ITestOutputHelper log)
{
    public static TheoryData<string> ForwardCases => GoldenFixture.CaseIds("cnn14", "forward");

    /// <summary>Config from fixture.json "config", else the generator_config asset, else the weights' shapes.</summary>
    private static Cnn14Config ConfigOf(GoldenFixture f, IReadOnlyDictionary<string, Tensor> weights)
    {
        if (f.Config.ContainsKey("conv_block_widths")) return Cnn14Config.FromJson(f.Config.ToJsonString(), $"{f.Name}/fixture.json");
        var asset = (f.Json["assets"] as JsonArray)?.Select(a => a!.AsObject()).FirstOrDefault(a => (string?)a["role"] == "generator_config");
        if (asset != null) return Cnn14Config.FromJson(File.ReadAllText(f.PathOf((string)asset["file"]!)), asset["file"]!.ToString());
        return Cnn14Config.FromTensorShapes(weights.ToDictionary(kv => kv.Key, kv => kv.Value.shape), f.Name);
    }

    /// <summary>Every safetensors weights copy of the fixture, up-cast to float32, in the module's naming.</summary>
    private static List<(string File, Dictionary<string, Tensor> Weights)> WeightCopies(GoldenFixture f)
    {
        var copies = new List<(string, Dictionary<string, Tensor>)>();
        foreach (var w in f.Weights.Select(w => w!.AsObject()).Where(w => (string?)w["format"] == "safetensors"))
        {
            Assert.Equal("clap-2022", (string?)w["naming"]);
            var raw = f.Tensors((string)w["file"]!).ReadAll(ScalarType.Float32);
            var selected = CheckpointConverter.SelectAudioWeights(raw, (string?)w["key_prefix"] ?? "");
            Assert.Equal((int)w["tensors"]!, selected.Count);
            copies.Add(((string)w["file"]!, selected));
        }
        Assert.NotEmpty(copies);
        return copies;
    }

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void ForwardMatchesReference(string id)
    {
        var (f, c) = GoldenFixture.Resolve(id);
        foreach (var (file, weights) in WeightCopies(f))
        {
            using var d = torch.NewDisposeScope();
            var config = ConfigOf(f, weights);
            using var model = new ClapAudioEncoder(config);
            model.LoadWeights(weights, $"{f.Name}/{file}");
            Assert.False(model.FrontEndLoaded);

            using var logmel = c.Input("logmel").to_type(ScalarType.Float32);
            var debug = new Dictionary<string, Tensor>();
            try
            {
                using var _ = torch.no_grad();
                using var o = model.Encode(logmel, debug);
                foreach (var (role, t) in o.ByRole().Concat(debug))
                    if (c.Outputs.ContainsKey(role) || c.Debug.ContainsKey(role)) log.WriteLine($"{id} {file} {role}: {MaxDiff(c, role, t)}");
                c.AssertAll(o.ByRole(), debug, requireAllOutputs: true);
                foreach (var role in c.DebugRoles) Assert.True(debug.ContainsKey(role), $"debug '{role}' not produced");
            }
            finally
            {
                foreach (var t in debug.Values) t.Dispose();
            }
        }
    }

    public static TheoryData<string> WaveformCases => GoldenFixture.CaseIds("cnn14", "forward_waveform");

    [Theory]
    [MemberData(nameof(WaveformCases))]
    public void ForwardWaveformMatchesReference(string id)
    {
        var (f, c) = GoldenFixture.Resolve(id);
        foreach (var (file, weights) in WeightCopies(f))
        {
            using var d = torch.NewDisposeScope();
            var config = ConfigOf(f, weights);
            using var model = new ClapAudioEncoder(config);
            model.LoadWeights(weights, $"{f.Name}/{file}");
            using var frontEnd = new SonicDiffusion.Audio.ClapFrontEnd(config.FrontEnd());
            using var _ = torch.no_grad();
            using var wave = c.Input("waveform").to_type(ScalarType.Float32);
            using var logmel = frontEnd.LogMel(wave);
            using var o = model.Encode(logmel);
            foreach (var (role, t) in o.ByRole())
                if (c.Outputs.ContainsKey(role)) log.WriteLine($"{id} {file} {role}: {MaxDiff(c, role, t)}");
            c.AssertAll(o.ByRole().Where(kv => c.Outputs.ContainsKey(kv.Key)).ToDictionary(), null, requireAllOutputs: true);
        }
    }

    /// <summary>max |a - e| and max |e| for the log (debug roles with a computed_slice are reported unsliced-skipped).</summary>
    internal static string MaxDiff(FixtureCase c, string role, Tensor actual)
    {
        bool isDebug = !c.Outputs.ContainsKey(role);
        using var e = c.Expected(role, isDebug);
        if (!e.shape.SequenceEqual(actual.shape)) return "(sliced; checked by AssertAll)";
        using var d = (actual.to_type(ScalarType.Float64) - e.to_type(ScalarType.Float64)).abs();
        return $"max|d| {d.max().item<double>():g3}, max|e| {e.abs().max().item<float>():g3}";
    }

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void ConfigFromTensorShapesMatchesFixtureConfig(string id)
    {
        var (f, _) = GoldenFixture.Resolve(id);
        var weights = f.Weights.Select(w => w!.AsObject()).First(w => (string?)w["format"] == "safetensors");
        var st = f.Tensors((string)weights["file"]!);
        var fromShapes = Cnn14Config.FromTensorShapes(st);
        var declared = ConfigOf(f, new Dictionary<string, Tensor>());
        Assert.Equal(declared.ConvBlockWidths, fromShapes.ConvBlockWidths);
        Assert.Equal(declared.OutEmb, fromShapes.OutEmb);
        Assert.Equal(declared.DProj, fromShapes.DProj);
        Assert.Equal(declared.ClassesNum, fromShapes.ClassesNum);
        Assert.Equal(declared.MelBins, fromShapes.MelBins);
    }

    [Fact]
    public void RealSizeParametersEqualOfficialClap2022AudioBranch()
    {
        var lists = GoldenFixture.All.Where(f => f.Kind == "cnn14")
            .SelectMany(f => (f.Json["assets"] as JsonArray ?? new JsonArray()).Select(a => a!.AsObject())
                .Where(a => (string?)a["role"] == "real_param_list").Select(a => f.PathOf((string)a["file"]!)))
            .ToList();
        Assert.NotEmpty(lists);
        var doc = JsonNode.Parse(File.ReadAllText(lists[0]))!.AsObject();
        var expected = ((JsonArray)doc["verified"]!).Select(e => e!.AsObject())
            .Where(e => ((string)e["name"]!).StartsWith(ClapAudioEncoder.ClapPrefix, StringComparison.Ordinal))
            .ToDictionary(e => (string)e["name"]!, e => e);
        Assert.Equal(88, expected.Count);

        using var d = torch.NewDisposeScope();
        var real = new Cnn14Config();
        var cfgJson = doc["config"]!.AsObject();
        Assert.Equal((int)cfgJson["out_emb"]!, real.OutEmb);
        Assert.Equal((int)cfgJson["d_proj"]!, real.DProj);
        Assert.Equal((int)cfgJson["num_classes"]!, real.ClassesNum);
        Assert.Equal((int)cfgJson["mel_bins"]!, real.MelBins);
        Assert.Equal((int)cfgJson["window_size"]!, real.WindowSize);
        Assert.Equal((int)cfgJson["hop_size"]!, real.HopSize);
        using var model = new ClapAudioEncoder(real);

        var actual = new Dictionary<string, (string Kind, long[] Shape, ScalarType DType)>();
        foreach (var (n, p) in model.named_parameters()) actual[ClapAudioEncoder.ClapPrefix + n] = ("parameter", p.shape, p.dtype);
        foreach (var (n, b) in model.named_buffers()) actual[ClapAudioEncoder.ClapPrefix + n] = ("buffer", b.shape, b.dtype);

        Assert.Equal(expected.Keys.OrderBy(k => k, StringComparer.Ordinal), actual.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (name, e) in expected)
        {
            var a = actual[name];
            Assert.True(((JsonArray)e["shape"]!).Select(x => (long)x!).SequenceEqual(a.Shape), $"{name}: shape [{string.Join(",", a.Shape)}]");
            Assert.True((string)e["kind"]! == a.Kind, $"{name}: {a.Kind}, official {e["kind"]}");
            var dtype = (string)e["dtype"]! == "int64" ? ScalarType.Int64 : ScalarType.Float32;
            Assert.True(dtype == a.DType, $"{name}: {a.DType}, official {e["dtype"]}");
        }
        long total = actual.Values.Sum(v => v.Shape.Aggregate(1L, (x, y) => x * y));
        Assert.Equal((long)doc["audio_encoder_param_count_incl_buffers"]!, total);
    }

    /// <summary>A real CLAP_weights_2022.pth['model'] (names and shapes from the param list, text branch included) gives the real config.</summary>
    [Fact]
    public void RealClapNamesInferTheRealConfigAndKindWithoutData()
    {
        var list = GoldenFixture.All.Where(f => f.Kind == "cnn14")
            .SelectMany(f => (f.Json["assets"] as JsonArray ?? new JsonArray()).Select(a => a!.AsObject())
                .Where(a => (string?)a["role"] == "real_param_list").Select(a => f.PathOf((string)a["file"]!)))
            .First();
        var doc = JsonNode.Parse(File.ReadAllText(list))!.AsObject();
        var shapes = ((JsonArray)doc["verified"]!).Select(e => e!.AsObject())
            .ToDictionary(e => (string)e["name"]!, e => ((JsonArray)e["shape"]!).Select(x => (long)x!).ToArray());
        shapes["caption_encoder.base.embeddings.word_embeddings.weight"] = [30522, 768];
        shapes["logit_scale"] = [];
        var cfg = Cnn14Config.FromTensorShapes(shapes, "CLAP_weights_2022.pth");
        var real = new Cnn14Config();
        Assert.Equal(real.ConvBlockWidths, cfg.ConvBlockWidths);
        Assert.Equal((real.OutEmb, real.DProj, real.ClassesNum, real.MelBins, real.WindowSize), (cfg.OutEmb, cfg.DProj, cfg.ClassesNum, cfg.MelBins, cfg.WindowSize));
        Assert.Equal(CheckpointKind.Clap2022, CheckpointInspector.DetectKind(shapes.Keys.ToList()).Kind);
        Assert.Equal(88, shapes.Keys.Count(k => k.StartsWith(CheckpointConverter.ClapAudioPrefix, StringComparison.Ordinal)));
    }

    [Fact]
    public void SelectAudioWeightsKeepsOnlyTheAudioBranch()
    {
        using var d = torch.NewDisposeScope();
        var dict = new Dictionary<string, Tensor>
        {
            ["audio_encoder.base.bn0.weight"] = torch.ones(4),
            ["audio_encoder.projection.linear1.weight"] = torch.ones(2, 2),
            ["caption_encoder.projection.linear1.weight"] = torch.ones(2, 2),
            ["caption_encoder.base.embeddings.word_embeddings.weight"] = torch.ones(2, 2),
            ["logit_scale"] = torch.ones(1),
        };
        var sel = CheckpointConverter.SelectAudioWeights(dict);
        Assert.Equal(new[] { "base.bn0.weight", "projection.linear1.weight" }, sel.Keys.OrderBy(k => k, StringComparer.Ordinal));
        Assert.Same(dict["audio_encoder.base.bn0.weight"], sel["base.bn0.weight"]);
    }

    private static Cnn14Config Small => new() { ConvBlockWidths = [2, 2, 2, 2, 2, 4], OutEmb = 4, DProj = 3, ClassesNum = 2, MelBins = 32, WindowSize = 16, HopSize = 4 };

    private static Dictionary<string, Tensor> StateOf(nn.Module m)
    {
        var s = new Dictionary<string, Tensor>();
        foreach (var (n, p) in m.named_parameters()) s[n] = p.detach().clone();
        foreach (var (n, b) in m.named_buffers()) s[n] = b.clone();
        return s;
    }

    [Fact]
    public void FrontEndTensorsLoadWhenPresentAndAreOptionalWhenAbsent()
    {
        using var d = torch.NewDisposeScope();
        using var source = new ClapAudioEncoder(Small);
        var state = StateOf(source);
        Assert.True(state[ClapAudioEncoder.StftRealName].isnan().all().item<bool>());
        Assert.Equal(new long[] { 9, 1, 16 }, state[ClapAudioEncoder.StftRealName].shape);
        Assert.Equal(new long[] { 9, 32 }, state[ClapAudioEncoder.MelWName].shape);

        state[ClapAudioEncoder.StftRealName] = torch.randn(9, 1, 16);
        state[ClapAudioEncoder.StftImagName] = torch.randn(9, 1, 16);
        state[ClapAudioEncoder.MelWName] = torch.rand(9, 32);

        using var withFrontEnd = new ClapAudioEncoder(Small);
        withFrontEnd.LoadWeights(state, "full.pth");
        Assert.True(withFrontEnd.FrontEndLoaded);
        Assert.True(withFrontEnd.MelW.equal(state[ClapAudioEncoder.MelWName]).all().item<bool>());
        Assert.True(withFrontEnd.StftImag.equal(state[ClapAudioEncoder.StftImagName]).all().item<bool>());

        var noFrontEnd = state.Where(kv => !ClapAudioEncoder.FrontEndNames.Contains(kv.Key)).ToDictionary();
        using var without = new ClapAudioEncoder(Small);
        without.LoadWeights(noFrontEnd, "tiny.safetensors");
        Assert.False(without.FrontEndLoaded);
        Assert.True(without.MelW.isnan().all().item<bool>());

        var partial = new Dictionary<string, Tensor>(noFrontEnd) { [ClapAudioEncoder.MelWName] = state[ClapAudioEncoder.MelWName] };
        var e1 = Assert.Throws<SonicException>(() => new ClapAudioEncoder(Small).LoadWeights(partial, "partial.pth"));
        Assert.Contains("partial.pth", e1.Message);

        var missing = new Dictionary<string, Tensor>(noFrontEnd);
        missing.Remove("base.fc1.weight");
        var e2 = Assert.Throws<SonicException>(() => new ClapAudioEncoder(Small).LoadWeights(missing, "missing.pth"));
        Assert.Contains("base.fc1.weight", e2.Message);
    }

    [Fact]
    public void ForwardAcceptsThreeDimensionalLogMelAndNormalises()
    {
        using var d = torch.NewDisposeScope();
        using var model = new ClapAudioEncoder(Small);
        // With 4 ReLU units a random clip can leave the embedding all zero (projection = LN bias = 0): keep it non-degenerate.
        using (torch.no_grad()) model.named_parameters().Single(p => p.name == "projection.layer_norm.bias").parameter.fill_(0.5);
        using var x = torch.randn(2, 40, 32);
        using var y4 = model.forward(x.unsqueeze(1));
        using var y3 = model.forward(x);
        Assert.Equal(new long[] { 2, 3 }, y3.shape);
        Assert.True(y3.equal(y4).all().item<bool>());
        Assert.True(torch.allclose(y3.norm(-1), torch.ones(2), atol: 1e-5));
        Assert.Throws<SonicException>(() => model.forward(torch.randn(2, 40, 31)));
    }
}
