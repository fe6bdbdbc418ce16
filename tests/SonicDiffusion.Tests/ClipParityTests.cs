using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Evaluation;
using SonicDiffusion.Imaging;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Tests.Infrastructure;
using SonicDiffusion.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>CLIP ViT (both towers, projections, preprocessing, OpenAI TorchScript archives) against openai/CLIP (fixtures of kind <c>clip</c>).</summary>
public class ClipParityTests
{
    public static TheoryData<string> Cases => GoldenFixture.CaseIds("clip");

    /// <summary>Every weights copy of the fixture, each loaded by <see cref="ClipModel.Load"/> (the product's own path and name conversion).</summary>
    private static IEnumerable<(string File, ClipModel Model)> Models(GoldenFixture f)
    {
        foreach (var w in f.Weights.Select(w => w!.AsObject()))
        {
            var file = f.PathOf((string)w["file"]!);
            var weights = ClipModel.ReadWeights(file);
            try
            {
                var cfg = f.Config;
                var shapes = weights.ToDictionary(kv => kv.Key, kv => kv.Value.shape);
                var json = new JsonObject
                {
                    ["text_config"] = new JsonObject { ["num_attention_heads"] = (int)cfg["transformer_heads"]! },
                    ["vision_config"] = new JsonObject { ["num_attention_heads"] = (int)cfg["vision_heads"]! },
                };
                var model = new ClipModel(ClipConfig.FromTensorShapes(shapes, file, json));
                model.LoadWeights(weights, file);
                model.eval();
                yield return (file, model);
            }
            finally
            {
                foreach (var t in weights.Values) t.Dispose();
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesReference(string id)
    {
        var (f, c) = GoldenFixture.Resolve(id);
        using var noGrad = torch.no_grad();
        switch (c.Op)
        {
            case "preprocess":
                {
                    using var pixels = ClipImagePreprocess.FromFile(c.InputAsset("image")!, (int)c.Param("n_px")!.Value);
                    c.AssertAll(new Dictionary<string, Tensor> { ["pixels"] = pixels });
                    return;
                }
            case "tokenize":
                {
                    var texts = ((JsonArray)((JsonObject)c.Inputs["texts"]!)["json"]!).Select(x => (string)x!).ToList();
                    using var ids = ClipZeroShot.Tokenize(ClipTokenizer.Default, texts, (int)c.Param("context_length")!.Value);
                    c.AssertAll(new Dictionary<string, Tensor> { ["ids"] = ids });
                    return;
                }
        }
        Assert.Equal(2, f.Weights.Count);
        foreach (var (file, model) in Models(f))
        {
            using var m = model;
            using var scope = torch.NewDisposeScope();
            var outputs = new Dictionary<string, Tensor>();
            switch (c.Op)
            {
                case "encode_image":
                    outputs["image_embeds"] = m.EncodeImage(c.Input("pixels"));
                    break;
                case "encode_text":
                    outputs["text_embeds"] = m.EncodeText(c.Input("input_ids"));
                    break;
                case "logits":
                    {
                        var img = ClipZeroShot.Normalize(m.EncodeImage(c.Input("pixels")));
                        var txt = ClipZeroShot.Normalize(m.EncodeText(c.Input("input_ids")));
                        var scale = m.named_parameters().Single(p => p.name == "logit_scale").parameter.exp();
                        outputs["logits_per_image"] = scale * img.matmul(txt.t());
                        break;
                    }
                case "embed_picture":
                    outputs["image_embeds"] = m.EncodeImage(ClipImagePreprocess.FromFile(c.InputAsset("image")!, m.ImageSize).unsqueeze(0));
                    break;
                default:
                    throw new InvalidOperationException($"{id}: unknown op {c.Op}");
            }
            c.AssertAll(outputs);
        }
    }

    [Fact]
    public void TorchScriptArchiveReadsAsTheOpenAiStateDict()
    {
        var f = GoldenFixture.Get("clip_vit_tiny");
        using var jit = TorchCheckpointFile.Open(f.PathOf("model_jit.pt"));
        Assert.Contains("visual.proj", jit.Names);
        Assert.Contains("transformer.resblocks.1.attn.in_proj_weight", jit.Names);
        Assert.Contains(jit.Globals, g => g.StartsWith("__torch__.clip.model", StringComparison.Ordinal));
        var hf = ClipModel.ReadWeights(f.PathOf("model_jit.pt"));
        using var st = SafetensorsFile.Open(f.PathOf("model.safetensors"));
        try
        {
            Assert.Equal(st.Names.Order(StringComparer.Ordinal), hf.Keys.Order(StringComparer.Ordinal));
            foreach (var name in st.Names)
            {
                using var expected = st.Read(name, ScalarType.Float32);
                Assert.True(expected.allclose(hf[name], 0, 0), name);
            }
        }
        finally
        {
            foreach (var t in hf.Values) t.Dispose();
        }
    }

    [Fact]
    public void ScriptObjectsAreRefusedOutsideTorchScriptArchives()
    {
        // a torch.save pickle naming a __torch__ class (no constants.pkl beside it) stays refused
        var pickle = new List<byte> { 0x80, 0x02 };
        pickle.AddRange("c__torch__.clip.model\nCLIP\n)"u8.ToArray());
        pickle.AddRange(new byte[] { 0x81, (byte)'.' });
        var e = Assert.Throws<SonicException>(() => SafeUnpickler.Load(pickle.ToArray(), "x.pt"));
        Assert.Contains("__torch__.clip.model.CLIP", e.Message);
        var obj = SafeUnpickler.Load(pickle.ToArray(), "x.pt", out _, scriptObjects: true);
        Assert.IsType<SafeUnpickler.Inert>(obj);
    }

    public static TheoryData<string, int, int, int, int, int> RealConfigs => new()
    {
        { "openai_ViT-B-32_keys.json", 512, 768, 12, 32, 8 },
        { "openai_ViT-L-14_keys.json", 768, 1024, 24, 14, 12 },
    };

    /// <summary>The real models' openai/CLIP keys convert to exactly the HF names and shapes a ClipModel of the inferred config has.</summary>
    [Theory]
    [MemberData(nameof(RealConfigs))]
    public void RealConfigsConvertAndInfer(string keysFile, int dim, int visionWidth, int visionLayers, int patch, int textHeads)
    {
        var f = GoldenFixture.Get("clip_vit_tiny");
        var json = JsonNode.Parse(File.ReadAllText(f.PathOf(keysFile)))!.AsObject();
        var openai = ((JsonObject)json["keys"]!).ToDictionary(kv => kv.Key, kv => torch.empty(((JsonArray)kv.Value!).Select(x => (long)x!).ToArray(), device: torch.META));
        var hf = ClipCheckpointNames.FromOpenAi(openai, keysFile);
        var cfg = ClipConfig.FromTensorShapes(hf.ToDictionary(kv => kv.Key, kv => kv.Value.shape), keysFile);
        Assert.Equal((dim, visionWidth, visionLayers, patch, 224, textHeads, 12), (cfg.ProjectionDim, cfg.Vision.HiddenSize, cfg.Vision.NumHiddenLayers, cfg.Vision.PatchSize, cfg.Vision.ImageSize, cfg.Text.NumAttentionHeads, cfg.Text.NumHiddenLayers));
        // one layer per tower is enough for names and shapes (the layer counts are checked above); full size would take a minute
        var oneLayer = cfg with { Text = cfg.Text with { NumHiddenLayers = 1 }, Vision = cfg.Vision with { NumHiddenLayers = 1 } };
        using var model = new ClipModel(oneLayer);
        var expected = model.named_parameters().ToDictionary(p => p.name, p => p.parameter.shape);
        var layer = new System.Text.RegularExpressions.Regex(@"\.layers\.\d+\.");
        var perLayer = hf.GroupBy(kv => layer.Replace(kv.Key, ".layers.0."), kv => kv.Value.shape).ToDictionary(g => g.Key, g => g.ToList());
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), perLayer.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, s) in expected) Assert.All(perLayer[k], shape => Assert.Equal(s, shape));
    }
}
