using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Tests.Infrastructure;
using SonicDiffusion.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

public class ClipTextParityTests
{
    public static TheoryData<string> Cases => GoldenFixture.CaseIds("clip_text");

    private static ClipTextConfig ConfigOf(GoldenFixture f) =>
        ClipTextConfig.FromJson(f.Config.ToJsonString(), $"{f.Name}/fixture.json config");

    /// <summary>
    /// The case's state dict, float16 up-cast to float32. With a weights_transform the keys get its prefix and the
    /// extra tensors are added (the SD single-file layout), and the result goes through <see cref="CheckpointConverter"/>
    /// as a real single-file checkpoint would.
    /// </summary>
    private static Dictionary<string, Tensor> WeightsFor(FixtureCase c, JsonObject entry)
    {
        Assert.Equal("safetensors", (string?)entry["format"]);
        var prefix = (string?)entry["key_prefix"] ?? "";
        var raw = c.Fixture.Tensors((string)entry["file"]!).ReadAll(ScalarType.Float32);
        var weights = raw.ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value);
        if (c.Json["weights_transform"] is not JsonObject wt) return weights;

        var add = (string)wt["add_prefix"]!;
        var renamed = weights.ToDictionary(kv => add + kv.Key, kv => kv.Value);
        foreach (var extra in ((JsonArray?)wt["add_tensors"] ?? new JsonArray()).Select(x => x!.AsObject()))
        {
            Assert.Equal("arange", (string?)extra["values"]);
            var shape = ((JsonArray)extra["shape"]!).Select(x => (long)x!).ToArray();
            var dtype = SafetensorsFile.ToScalarType((string)extra["dtype"]!, "fixture.json", (string)extra["name"]!);
            renamed[(string)extra["name"]!] = torch.arange(shape.Aggregate(1L, (a, b) => a * b), dtype: dtype).reshape(shape);
        }
        Assert.All(renamed.Keys, k => Assert.StartsWith(add, k));
        var split = CheckpointConverter.Split(renamed, $"{c.Fixture.Name}/{c.Name}");
        Assert.Empty(split.UNet);
        Assert.Empty(split.Vae);
        Assert.Contains(split.Ignored, k => k.EndsWith("position_ids"));
        return split.TextEncoder;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ForwardMatchesReference(string id)
    {
        var (f, c) = GoldenFixture.Resolve(id);
        Assert.Equal("forward", c.Op);
        Assert.Equal("float32", (string?)f.Json["compute_dtype"]);
        var config = ConfigOf(f);
        Assert.NotEmpty(f.Weights);
        foreach (var entry in f.Weights.Select(w => w!.AsObject()))
        {
            var weights = WeightsFor(c, entry);
            try
            {
                using var model = new ClipTextModel(config);
                var report = model.LoadWeights(weights, $"{f.Name}/{entry["file"]}");
                Assert.True(report.IsComplete, report.Describe());
                model.eval();
                using var _ = torch.no_grad();
                using var ids = c.Input("input_ids");
                using var output = model.Run(ids, outputHiddenStates: true);
                var outputs = new Dictionary<string, Tensor>
                {
                    ["last_hidden_state"] = output.LastHiddenState,
                    ["pooler_output"] = output.PoolerOutput,
                };
                var debug = new Dictionary<string, Tensor> { ["embeddings_output"] = output.HiddenStates[0] };
                for (int i = 1; i < output.HiddenStates.Count; i++) debug[$"layer_{i - 1}_output"] = output.HiddenStates[i];
                Assert.All(c.DebugRoles, r => Assert.True(debug.ContainsKey(r), $"debug role '{r}' is not produced"));
                c.AssertAll(outputs, debug);
                using var plain = model.forward(ids);
                Assert.True(plain.equal(output.LastHiddenState).all().item<bool>(), "forward() differs from Run().LastHiddenState");
            }
            finally
            {
                foreach (var t in weights.Values) t.Dispose();
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ConfigFromTensorShapesMatchesFixtureConfig(string id)
    {
        var (f, _) = GoldenFixture.Resolve(id);
        var config = ConfigOf(f);
        foreach (var entry in f.Weights.Select(w => w!.AsObject()))
        {
            var st = f.Tensors((string)entry["file"]!);
            var prefix = (string?)entry["key_prefix"] ?? "";
            var shapes = st.Names.ToDictionary(n => n[prefix.Length..], n => st.Info(n).Shape);
            var inferred = ClipTextConfig.FromTensorShapes(shapes, st.Path, numAttentionHeads: config.NumAttentionHeads);
            Assert.Equal(config with { HiddenAct = inferred.HiddenAct, LayerNormEps = inferred.LayerNormEps }, inferred);
        }
    }

    [Fact]
    public void SdV1ConfigHasTheDocumentedParameterCount()
    {
        var c = ClipTextConfig.SdV1;
        long tok = (long)c.VocabSize * c.HiddenSize, pos = (long)c.MaxPositionEmbeddings * c.HiddenSize;
        long layer = 4L * (c.HiddenSize * c.HiddenSize + c.HiddenSize) + 2L * 2 * c.HiddenSize
                     + (long)c.IntermediateSize * c.HiddenSize + c.IntermediateSize + (long)c.HiddenSize * c.IntermediateSize + c.HiddenSize;
        Assert.Equal(123_060_480L, tok + pos + c.NumHiddenLayers * layer + 2L * c.HiddenSize);

        var shapes = new Dictionary<string, long[]>
        {
            ["text_model.embeddings.token_embedding.weight"] = [49408, 768],
            ["text_model.embeddings.position_embedding.weight"] = [77, 768],
            ["text_model.encoder.layers.0.mlp.fc1.weight"] = [3072, 768],
            ["text_model.encoder.layers.11.mlp.fc1.weight"] = [3072, 768],
        };
        Assert.Equal(ClipTextConfig.SdV1, ClipTextConfig.FromTensorShapes(shapes, "shapes"));
    }

    [Fact]
    public void ModelParameterNamesAreHfNames()
    {
        var config = new ClipTextConfig { VocabSize = 10, HiddenSize = 8, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 16, MaxPositionEmbeddings = 5 };
        using var model = new ClipTextModel(config);
        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Empty(model.named_buffers());
        Assert.Equal(4 + 2 * 16, names.Count);
        foreach (var n in new[]
                 {
                     "text_model.embeddings.token_embedding.weight", "text_model.embeddings.position_embedding.weight",
                     "text_model.encoder.layers.1.self_attn.q_proj.weight", "text_model.encoder.layers.1.self_attn.out_proj.bias",
                     "text_model.encoder.layers.0.layer_norm1.weight", "text_model.encoder.layers.0.layer_norm2.bias",
                     "text_model.encoder.layers.0.mlp.fc1.weight", "text_model.encoder.layers.0.mlp.fc2.bias",
                     "text_model.final_layer_norm.weight", "text_model.final_layer_norm.bias",
                 })
            Assert.Contains(n, names);
    }

    [Fact]
    public void CausalMaskHidesLaterTokensAndBadConfigsFail()
    {
        var config = new ClipTextConfig { VocabSize = 20, HiddenSize = 8, NumHiddenLayers = 2, NumAttentionHeads = 2, IntermediateSize = 16, MaxPositionEmbeddings = 6 };
        using var model = new ClipTextModel(config);
        model.eval();
        using var _ = torch.no_grad();
        using var a = torch.tensor(new long[] { 1, 2, 3, 4, 5, 6 }).reshape(1, 6);
        using var b = torch.tensor(new long[] { 1, 2, 3, 9, 9, 9 }).reshape(1, 6);
        using var ha = model.forward(a);
        using var hb = model.forward(b);
        Assert.True(ha[.., ..3].equal(hb[.., ..3]).all().item<bool>());
        Assert.False(ha[.., 3..].equal(hb[.., 3..]).all().item<bool>());
        using var tooLong = torch.zeros(1, 7, dtype: ScalarType.Int64);
        Assert.Throws<SonicException>(() => model.forward(tooLong));
        Assert.Throws<SonicException>(() => new ClipTextModel(config with { NumAttentionHeads = 3 }));
        Assert.Throws<SonicException>(() => new ClipTextModel(config with { HiddenAct = "relu" }));
    }
}
