using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

public class UNetParityTests
{
    public static TheoryData<string> Cases => GoldenFixture.CaseIds("unet");
    public static TheoryData<string> ForwardCases => GoldenFixture.CaseIds("unet", "forward");

    internal static UNet2DConditionConfig ConfigOf(GoldenFixture fx)
    {
        Assert.NotNull(fx.DiffusersConfig);
        return ConfigJson.Parse<UNet2DConditionConfig>(fx.DiffusersConfig!.ToJsonString(), $"{fx.Name}/fixture.json diffusers_config");
    }

    /// <summary>Builds the UNet from diffusers_config and loads a weights entry through the single-file converter.</summary>
    internal static UNet2DConditionModel Load(GoldenFixture fx, System.Text.Json.Nodes.JsonObject entry)
    {
        var raw = FixtureWeights.ReadFloat32(fx, entry, "compvis-single-file");
        try
        {
            var source = fx.PathOf((string)entry["file"]!);
            var converted = CheckpointConverter.UNetFromCompVis(raw, source);
            var cfg = ConfigOf(fx);
            var (inferred, note) = UNet2DConditionConfig.FromTensorShapes(CheckpointConverter.Shapes(converted));
            Assert.Contains("heads", note);
            Assert.Equal(cfg.BlockOutChannels, inferred.BlockOutChannels);
            Assert.Equal(cfg.LayersPerBlock, inferred.LayersPerBlock);
            Assert.Equal(cfg.InChannels, inferred.InChannels);
            Assert.Equal(cfg.OutChannels, inferred.OutChannels);
            Assert.Equal(cfg.CrossAttentionDim, inferred.CrossAttentionDim);
            Assert.Equal(cfg.DownBlockTypes, inferred.DownBlockTypes);
            Assert.Equal(cfg.UpBlockTypes, inferred.UpBlockTypes);
            Assert.Equal(cfg.UseLinearProjection, inferred.UseLinearProjection);
            Assert.Equal(cfg.TransformerLayersAt(cfg.NumLevels - 1), inferred.TransformerLayersAt(0));

            var model = new UNet2DConditionModel(cfg);
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
            using var model = Load(fx, entry);
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            switch (c.Op)
            {
                case "forward":
                {
                    var call = new UNetCallContext { Debug = new() };
                    var eps = model.Forward(c.Input("x"), c.Input("timesteps"), c.Input("context"), call);
                    try
                    {
                        Assert.Equal(Array.Empty<string>(), c.DebugRoles.Where(r => !call.Debug.ContainsKey(r)).ToArray());
                        c.AssertAll(new Dictionary<string, Tensor> { ["eps"] = eps }, call.Debug);
                    }
                    finally { FixtureWeights.DisposeAll(call.Debug.Values); }
                    break;
                }
                default:
                    Assert.Fail($"{id}: unknown unet op '{c.Op}'");
                    break;
            }
        }
    }

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void TimestepsMayBeScalarOrFloat(string id)
    {
        var (fx, c) = GoldenFixture.Resolve(id);
        using var model = Load(fx, FixtureWeights.SafetensorsEntries(fx)[0]);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = c.Input("x");
        var t = c.Input("timesteps");
        var ctx = c.Input("context");
        var full = model.forward(x, t, ctx);
        var asFloat = model.forward(x, t.to_type(ScalarType.Float32), ctx);
        Assert.True(asFloat.equal(full).all().item<bool>(), "float timesteps must give the same result as int64 ones");
        for (long i = 0; i < x.shape[0]; i++)
        {
            var one = model.forward(x.narrow(0, i, 1), t[i], ctx.narrow(0, i, 1));
            Assert.True(one.allclose(full.narrow(0, i, 1), rtol: 0, atol: 1e-4), $"item {i}: a scalar timestep on a batch of one differs from the batched run");
        }
        var tiled = model.forward(x.narrow(0, 0, 1).expand(2, -1, -1, -1).contiguous(), t[0], ctx.narrow(0, 0, 1).expand(2, -1, -1).contiguous());
        Assert.True(tiled[0].allclose(tiled[1], rtol: 0, atol: 1e-5), "a scalar timestep must broadcast over the batch");
    }

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void HooksAndProcessorsReachTheForwardPass(string id)
    {
        var (fx, c) = GoldenFixture.Resolve(id);
        using var model = Load(fx, FixtureWeights.SafetensorsEntries(fx)[0]);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = c.Input("x");
        var t = c.Input("timesteps");
        var ctx = c.Input("context");
        var baseline = model.forward(x, t, ctx);

        // Resnet residual hook: identity leaves the output bit-identical; zeroing the branch changes it.
        var resnet = model.named_modules().Where(m => m.module is ResnetBlock2D).Select(m => (ResnetBlock2D)m.module)
            .First(r => r.ResidualHook == null && model.up_blocks.Any(b => b.resnets.Contains(r)));
        int calls = 0;
        resnet.ResidualHook = (_, h, _) => { calls++; return h; };
        Assert.True(model.forward(x, t, ctx).equal(baseline).all().item<bool>());
        Assert.Equal(1, calls);
        resnet.ResidualHook = (_, h, _) => zeros_like(h);
        Assert.False(model.forward(x, t, ctx).allclose(baseline, rtol: 0, atol: 1e-6));
        resnet.ResidualHook = null;

        // Attention processor: a pass-through subclass is bit-identical; swapping q and k of self-attention changes it.
        var blocks = model.TransformerBlocks().ToList();
        Assert.NotEmpty(blocks);
        var counting = new CountingProcessor(swapQK: false);
        foreach (var (_, b) in blocks) b.attn1.Processor = counting;
        Assert.True(model.forward(x, t, ctx).equal(baseline).all().item<bool>());
        Assert.Equal(blocks.Count, counting.SelfCalls);
        foreach (var (_, b) in blocks) b.attn1.Processor = new CountingProcessor(swapQK: true);
        Assert.False(model.forward(x, t, ctx).allclose(baseline, rtol: 0, atol: 1e-6));
        foreach (var (_, b) in blocks) b.attn1.Processor = null!;
        Assert.True(model.forward(x, t, ctx).equal(baseline).all().item<bool>());
    }

    private sealed class CountingProcessor(bool swapQK) : AttnProcessor
    {
        public int SelfCalls;

        protected override (Tensor Q, Tensor K, Tensor V) Transform(Attention attn, Tensor q, Tensor k, Tensor v, bool isSelfAttention, UNetCallContext? context)
        {
            if (isSelfAttention) SelfCalls++;
            return swapQK && isSelfAttention ? (k, q, v) : (q, k, v);
        }
    }

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void BlockExtensionsHostAdapterParametersAndSeeTheCallContext(string id)
    {
        var (fx, c) = GoldenFixture.Resolve(id);
        using var model = Load(fx, FixtureWeights.SafetensorsEntries(fx)[0]);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = c.Input("x");
        var t = c.Input("timesteps");
        var ctx = c.Input("context");
        var baseline = model.forward(x, t, ctx);

        var sites = model.TransformerBlocks().Where(b => b.Name.StartsWith("mid_block.", StringComparison.Ordinal) || b.Name.StartsWith("up_blocks.", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(sites);
        var set = AudioAdapterSet.Install(model, AudioAdapterConfig.Official);
        Assert.Equal(sites.Select(s => s.Name), set.Sites.Select(s => s.Path));
        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        foreach (var (name, block) in sites)
            foreach (var suffix in new[] { "attn_adapter.to_q.weight", "attn_adapter.to_k.weight", "attn_adapter.to_v.weight", "attn_adapter.to_out.0.weight", "attn_adapter.to_out.0.bias", "norm_adapter.weight", "norm_adapter.bias", "gate_adapter" })
                Assert.Contains($"{name}.{suffix}", names);

        Assert.True(model.forward(x, t, ctx).equal(baseline).all().item<bool>(), "no audio context: adapters are skipped");
        var audio = randn(x.shape[0], 7, ctx.shape[2], generator: new Generator(7));
        var call = new UNetCallContext { AudioContext = audio };
        var withAudio = model.Forward(x, t, ctx, call);
        Assert.False(withAudio.allclose(baseline, rtol: 0, atol: 1e-6), "audio context must reach the adapters");
        call.AudioScale = 0;
        Assert.True(model.Forward(x, t, ctx, call).allclose(baseline, rtol: 0, atol: 1e-6), "beta 0 = adapters off");
    }

    [Fact]
    public void LinearProjectionAndPerLevelHeadsBuildAndRun()
    {
        const string json = """
            {"in_channels": 4, "out_channels": 4, "block_out_channels": [32, 64], "layers_per_block": 1,
             "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"], "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
             "attention_head_dim": [2, 4], "cross_attention_dim": 16, "use_linear_projection": true, "norm_num_groups": 8}
            """;
        var cfg = ConfigJson.Parse<UNet2DConditionConfig>(json, "test config");
        Assert.Equal(2, cfg.HeadsAt(0));
        Assert.Equal(4, cfg.HeadsAt(1));
        using var model = new UNet2DConditionModel(cfg);
        foreach (var (name, p) in model.named_parameters())
            Assert.True(p.isfinite().all().item<bool>(), $"freshly built parameter {name} is not finite");
        var norm = model.up_blocks[0].resnets[0].norm1;
        Assert.True(norm.weight!.eq(1).all().item<bool>() && norm.bias!.eq(0).all().item<bool>(), "GroupNorm must start at weight 1, bias 0");
        var shapes = model.named_parameters().ToDictionary(p => p.name, p => new TensorInfo("F32", p.parameter.shape));
        Assert.Equal(2, shapes["down_blocks.0.attentions.0.proj_in.weight"].Shape.Length);
        Assert.Equal(2, model.down_blocks[0].attentions[0].transformer_blocks[0].attn1.Heads);
        Assert.Equal(4, model.mid_block.attentions[0].transformer_blocks[0].attn1.Heads);
        var (inferred, _) = UNet2DConditionConfig.FromTensorShapes(shapes);
        Assert.True(inferred.UseLinearProjection);
        Assert.Equal([32, 64], inferred.BlockOutChannels);
        Assert.Equal(1, inferred.LayersPerBlock);
        Assert.Equal(cfg.DownBlockTypes, inferred.DownBlockTypes);
        Assert.Equal(cfg.UpBlockTypes, inferred.UpBlockTypes);
        Assert.Equal(16, inferred.CrossAttentionDim);

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var y = model.forward(randn(2, 4, 12, 12), tensor(10L), randn(2, 5, 16));
        Assert.Equal(new long[] { 2, 4, 12, 12 }, y.shape);
        Assert.False(y.isnan().any().item<bool>());
    }

    [Fact]
    public void TimeEmbeddingDimIsReadBuiltAndInferred()
    {
        const string json = """
            {"block_out_channels": [8, 16], "layers_per_block": 1, "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
             "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "attention_head_dim": 2, "cross_attention_dim": 8,
             "norm_num_groups": 8, "time_embedding_dim": 48}
            """;
        var cfg = ConfigJson.Parse<UNet2DConditionConfig>(json, "test config");
        Assert.Equal(48, cfg.TimeEmbedDim);
        using var model = new UNet2DConditionModel(cfg);
        var shapes = model.named_parameters().ToDictionary(p => p.name, p => new TensorInfo("F32", p.parameter.shape));
        Assert.Equal(new long[] { 48, 8 }, shapes["time_embedding.linear_1.weight"].Shape);
        Assert.Equal(new long[] { 16, 48 }, shapes["up_blocks.0.resnets.0.time_emb_proj.weight"].Shape);
        Assert.Equal(48, UNet2DConditionConfig.FromTensorShapes(shapes).Config.TimeEmbeddingDim);
        Assert.Null(ConfigJson.Parse<UNet2DConditionConfig>(json.Replace("\"time_embedding_dim\": 48", "\"time_embedding_dim\": null"), "test").TimeEmbeddingDim);

        using var plain = new UNet2DConditionModel(cfg with { TimeEmbeddingDim = null });
        var plainShapes = plain.named_parameters().ToDictionary(p => p.name, p => new TensorInfo("F32", p.parameter.shape));
        Assert.Equal(new long[] { 32, 8 }, plainShapes["time_embedding.linear_1.weight"].Shape);
        Assert.Null(UNet2DConditionConfig.FromTensorShapes(plainShapes).Config.TimeEmbeddingDim);
        Assert.Contains("time_embedding_dim", Assert.Throws<SonicException>(() => (cfg with { TimeEmbeddingDim = 0 }).Validate()).Message);

        using var scope = NewDisposeScope();
        using var _ = no_grad();
        Assert.Equal(new long[] { 1, 4, 8, 8 }, model.forward(randn(1, 4, 8, 8), tensor(10L), randn(1, 3, 8)).shape);
    }

    [Fact]
    public void NumAttentionHeadsOverridesAttentionHeadDim()
    {
        var cfg = ConfigJson.Parse<UNet2DConditionConfig>("""{"attention_head_dim": 64, "num_attention_heads": [5, 10, 20, 20]}""", "test config");
        Assert.Equal(5, cfg.HeadsAt(0));
        Assert.Equal(20, cfg.HeadsAt(3));
        var sd = ConfigJson.Parse<UNet2DConditionConfig>("""{"attention_head_dim": 8}""", "test config");
        Assert.Equal(8, sd.HeadsAt(2));
    }

    [Fact]
    public void UnsupportedConfigFieldsAreNamed()
    {
        var bad = ConfigJson.Parse<UNet2DConditionConfig>("""{"down_block_types": ["CrossAttnDownBlock2D", "SimpleDown", "DownBlock2D", "DownBlock2D"]}""", "test config");
        var e = Assert.Throws<SonicException>(() => bad.Validate());
        Assert.Contains("SimpleDown", e.Message);
        var badHeads = ConfigJson.Parse<UNet2DConditionConfig>("""{"attention_head_dim": 7}""", "test config");
        Assert.Contains("heads", Assert.Throws<SonicException>(() => badHeads.Validate()).Message);
    }
}
