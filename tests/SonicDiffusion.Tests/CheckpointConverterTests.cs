using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;
using Cc = SonicDiffusion.IO.CheckpointConverter;

namespace SonicDiffusion.Tests;

public class CheckpointConverterTests
{
    public static TheoryData<string> UNetFixtures => FixtureNames("unet");
    public static TheoryData<string> VaeFixtures => FixtureNames("vae");

    private static TheoryData<string> FixtureNames(string kind)
    {
        var d = new TheoryData<string>();
        foreach (var f in GoldenFixture.All.Where(f => f.Kind == kind)) d.Add(f.Name);
        return d;
    }

    private static Dictionary<string, TensorInfo> FileShapes(GoldenFixture fx)
    {
        var st = fx.Tensors((string)FixtureWeights.SafetensorsEntries(fx)[0]["file"]!);
        return st.Names.ToDictionary(n => n, st.Info);
    }

    private static Dictionary<string, TensorInfo> ModelShapes(nn.Module m)
        => m.named_parameters().ToDictionary(p => p.name, p => new TensorInfo("F32", p.parameter.shape));

    [Theory]
    [MemberData(nameof(UNetFixtures))]
    public void UNetNamesMapOneToOneOntoTheModel(string fixture)
    {
        var fx = GoldenFixture.Get(fixture);
        var file = FileShapes(fx);
        var contents = Cc.Detect(file.Keys);
        Assert.Equal(Cc.SdComponents.UNet, contents.Components);
        Assert.Equal(Cc.SdNaming.SingleFile, contents.Naming[Cc.SdComponents.UNet]);
        var mapped = Cc.Shapes(file, Cc.SdComponents.UNet);
        Assert.Equal(file.Count, mapped.Count);
        using var model = new UNet2DConditionModel(UNetParityTests.ConfigOf(fx));
        var expected = ModelShapes(model);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), mapped.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, info) in expected) Assert.Equal(info.Shape, mapped[k].Shape);
    }

    [Theory]
    [MemberData(nameof(VaeFixtures))]
    public void VaeNamesMapOneToOneOntoTheModel(string fixture)
    {
        var fx = GoldenFixture.Get(fixture);
        var file = FileShapes(fx);
        Assert.Equal(Cc.SdComponents.Vae, Cc.Detect(file.Keys).Components);
        var mapped = Cc.Shapes(file, Cc.SdComponents.Vae);
        Assert.Equal(file.Count, mapped.Count);
        using var model = new AutoencoderKL(VaeParityTests.ConfigOf(fx));
        var expected = ModelShapes(model);
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), mapped.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, info) in expected) Assert.Equal(info.Shape, mapped[k].Shape);
    }

    [Fact]
    public void SdSizeUNetNamesFollowTheDiffusersTable()
    {
        (string CompVis, string Diffusers)[] table =
        [
            ("time_embed.0.weight", "time_embedding.linear_1.weight"),
            ("time_embed.2.bias", "time_embedding.linear_2.bias"),
            ("input_blocks.0.0.weight", "conv_in.weight"),
            ("input_blocks.1.0.in_layers.0.weight", "down_blocks.0.resnets.0.norm1.weight"),
            ("input_blocks.2.1.proj_in.weight", "down_blocks.0.attentions.1.proj_in.weight"),
            ("input_blocks.3.0.op.weight", "down_blocks.0.downsamplers.0.conv.weight"),
            ("input_blocks.4.0.skip_connection.bias", "down_blocks.1.resnets.0.conv_shortcut.bias"),
            ("input_blocks.9.0.op.bias", "down_blocks.2.downsamplers.0.conv.bias"),
            ("input_blocks.11.0.out_layers.3.weight", "down_blocks.3.resnets.1.conv2.weight"),
            ("middle_block.0.emb_layers.1.weight", "mid_block.resnets.0.time_emb_proj.weight"),
            ("middle_block.1.transformer_blocks.0.attn2.to_k.weight", "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight"),
            ("middle_block.2.out_layers.0.bias", "mid_block.resnets.1.norm2.bias"),
            ("output_blocks.0.0.in_layers.2.weight", "up_blocks.0.resnets.0.conv1.weight"),
            ("output_blocks.2.1.conv.weight", "up_blocks.0.upsamplers.0.conv.weight"),
            ("output_blocks.4.1.transformer_blocks.0.ff.net.0.proj.weight", "up_blocks.1.attentions.1.transformer_blocks.0.ff.net.0.proj.weight"),
            ("output_blocks.5.2.conv.bias", "up_blocks.1.upsamplers.0.conv.bias"),
            ("output_blocks.8.2.conv.weight", "up_blocks.2.upsamplers.0.conv.weight"),
            ("output_blocks.11.1.norm.weight", "up_blocks.3.attentions.2.norm.weight"),
            ("out.0.weight", "conv_norm_out.weight"),
            ("out.2.bias", "conv_out.bias"),
        ];
        foreach (var (cv, df) in table) Assert.Equal(df, Cc.MapUNetKey(cv, 2));
        // one resnet per level: levels span 2 input / 2 output indices
        Assert.Equal("down_blocks.0.downsamplers.0.conv.weight", Cc.MapUNetKey("input_blocks.2.0.op.weight", 1));
        Assert.Equal("down_blocks.1.resnets.0.conv1.weight", Cc.MapUNetKey("input_blocks.3.0.in_layers.2.weight", 1));
        Assert.Equal("up_blocks.0.upsamplers.0.conv.weight", Cc.MapUNetKey("output_blocks.1.1.conv.weight", 1));
        Assert.Equal("up_blocks.1.attentions.1.proj_out.bias", Cc.MapUNetKey("output_blocks.3.1.proj_out.bias", 1));
        Assert.Equal(2, Cc.InferCompVisUNetLayersPerBlock(["input_blocks.3.0.op.weight", "input_blocks.11.0.in_layers.0.weight"]));
    }

    /// <summary>The released SonicDiffusion adapter names (listed in the gated_block fixtures) convert CompVis → diffusers.</summary>
    [Fact]
    public void AdapterParameterNamesConvertLikeTheReleasedCheckpoints()
    {
        int seen = 0;
        foreach (var fx in GoldenFixture.All.Where(f => f.Kind == "gated_block"))
            foreach (var asset in (fx.Json["assets"] as JsonArray ?? []).Select(a => a!.AsObject()).Where(a => (string?)a["role"] == "sd14_adapter_names"))
            {
                var doc = JsonNode.Parse(File.ReadAllText(fx.PathOf((string)asset["file"]!)))!;
                foreach (var p in ((JsonArray)doc["params"]!).Select(p => p!.AsObject()))
                {
                    string cv = (string)p["compvis_name"]!;
                    Assert.StartsWith(Cc.SingleFileUNetPrefix, cv);
                    Assert.Equal((string)p["diffusers_name"]!, Cc.MapUNetKey(cv[Cc.SingleFileUNetPrefix.Length..], 2));
                    seen++;
                }
            }
        Assert.True(seen > 0, "no adapter name list found");
    }

    [Fact]
    public void VaeNamesFollowTheDiffusersTable()
    {
        Assert.Equal(("encoder.conv_norm_out.weight", false), Cc.MapVaeKey("encoder.norm_out.weight", 4));
        Assert.Equal(("encoder.down_blocks.1.resnets.0.conv_shortcut.bias", false), Cc.MapVaeKey("encoder.down.1.block.0.nin_shortcut.bias", 4));
        Assert.Equal(("encoder.down_blocks.2.downsamplers.0.conv.weight", false), Cc.MapVaeKey("encoder.down.2.downsample.conv.weight", 4));
        Assert.Equal(("decoder.up_blocks.3.resnets.2.conv2.weight", false), Cc.MapVaeKey("decoder.up.0.block.2.conv2.weight", 4));
        Assert.Equal(("decoder.up_blocks.0.upsamplers.0.conv.bias", false), Cc.MapVaeKey("decoder.up.3.upsample.conv.bias", 4));
        Assert.Equal(("decoder.mid_block.resnets.1.norm1.weight", false), Cc.MapVaeKey("decoder.mid.block_2.norm1.weight", 4));
        Assert.Equal(("encoder.mid_block.attentions.0.to_out.0.weight", true), Cc.MapVaeKey("encoder.mid.attn_1.proj_out.weight", 4));
        Assert.Equal(("encoder.mid_block.attentions.0.to_q.bias", false), Cc.MapVaeKey("encoder.mid.attn_1.q.bias", 4));
        Assert.Equal(("decoder.mid_block.attentions.0.group_norm.weight", false), Cc.MapVaeKey("decoder.mid.attn_1.norm.weight", 4));
        Assert.Equal(("post_quant_conv.weight", false), Cc.MapVaeKey("post_quant_conv.weight", 4));
    }

    [Theory]
    [MemberData(nameof(VaeFixtures))]
    public void LegacyDiffusersVaeAttentionNamesAndConvKernelsAreNormalised(string fixture)
    {
        var fx = GoldenFixture.Get(fixture);
        var raw = FixtureWeights.ReadFloat32(fx, FixtureWeights.SafetensorsEntries(fx)[0], "compvis-single-file");
        using var scope = NewDisposeScope();
        try
        {
            var modern = Cc.VaeFromCompVis(raw);
            var legacy = new Dictionary<string, Tensor>();
            foreach (var (k, t) in modern)
            {
                string name = k.Replace(".to_q.", ".query.").Replace(".to_k.", ".key.").Replace(".to_v.", ".value.").Replace(".to_out.0.", ".proj_attn.");
                legacy[name] = name != k && t.dim() == 2 ? t.reshape(t.shape[0], t.shape[1], 1, 1) : t;
            }
            Assert.Contains(legacy.Keys, k => k.EndsWith(".query.weight", StringComparison.Ordinal));
            var contents = Cc.Detect(legacy.Keys);
            Assert.Equal(Cc.SdNaming.Diffusers, contents.Naming[Cc.SdComponents.Vae]);
            var back = Cc.Split(legacy).Vae;
            Assert.Equal(modern.Keys.Order(StringComparer.Ordinal), back.Keys.Order(StringComparer.Ordinal));
            foreach (var (k, t) in modern)
                Assert.True(back[k].shape.SequenceEqual(t.shape) && back[k].equal(t).all().item<bool>(), k);
        }
        finally { FixtureWeights.DisposeAll(raw.Values); }
    }

    [Theory]
    [MemberData(nameof(UNetFixtures))]
    public void MissingOrWrongShapeUNetTensorIsNamed(string fixture)
    {
        var fx = GoldenFixture.Get(fixture);
        var raw = FixtureWeights.ReadFloat32(fx, FixtureWeights.SafetensorsEntries(fx)[0], "compvis-single-file");
        using var scope = NewDisposeScope();
        try
        {
            using var model = new UNet2DConditionModel(UNetParityTests.ConfigOf(fx));
            var keys = raw.Keys.Order(StringComparer.Ordinal).ToList();
            int layers = Cc.InferCompVisUNetLayersPerBlock(keys.Select(k => k[Cc.SingleFileUNetPrefix.Length..]));
            string victim = keys.First(k => k.Contains(".skip_connection.weight", StringComparison.Ordinal));
            string victimName = Cc.MapUNetKey(victim[Cc.SingleFileUNetPrefix.Length..], layers);

            var missing = new Dictionary<string, Tensor>(raw);
            missing.Remove(victim);
            var e1 = Assert.Throws<SonicException>(() => WeightLoader.Load(model, Cc.UNetFromCompVis(missing, "test.safetensors"), "test.safetensors"));
            Assert.Contains(victimName, e1.Message);
            Assert.Contains("missing", e1.Message);
            Assert.DoesNotContain('\n', e1.Message);

            var wrong = new Dictionary<string, Tensor>(raw) { [victim] = zeros(3, 3) };
            var e2 = Assert.Throws<SonicException>(() => WeightLoader.Load(model, Cc.UNetFromCompVis(wrong, "test.safetensors"), "test.safetensors"));
            Assert.Contains(victimName, e2.Message);
            Assert.Contains("wrong shape", e2.Message);
        }
        finally { FixtureWeights.DisposeAll(raw.Values); }
    }

    [Fact]
    public void UnknownKeysAndBadKernelsAreNamed()
    {
        using var scope = NewDisposeScope();
        var t = zeros(2, 2);
        var e = Assert.Throws<SonicException>(() => Cc.Split(new Dictionary<string, Tensor> { ["model.diffusion_model.input_blocks.1.0.foo.weight"] = t }, "x.safetensors"));
        Assert.Contains("'model.diffusion_model.input_blocks.1.0.foo.weight'", e.Message);
        Assert.StartsWith("x.safetensors:", e.Message);
        e = Assert.Throws<SonicException>(() => Cc.Split(new Dictionary<string, Tensor> { ["something.else"] = t }, "x.safetensors"));
        Assert.Contains("'something.else'", e.Message);
        e = Assert.Throws<SonicException>(() => Cc.Split(new Dictionary<string, Tensor> { ["first_stage_model.encoder.mid.attn_1.q.weight"] = zeros(4, 4, 3, 3) }, "x.safetensors"));
        Assert.Contains("'first_stage_model.encoder.mid.attn_1.q.weight'", e.Message);
        e = Assert.Throws<SonicException>(() => Cc.Split(new Dictionary<string, Tensor> { ["cond_stage_model.model.transformer.resblocks.0.ln_1.weight"] = t }, "x.safetensors"));
        Assert.Contains("cond_stage_model.model.transformer.resblocks.0.ln_1.weight", e.Message);
        e = Assert.Throws<SonicException>(() => Cc.Split(new Dictionary<string, Tensor> { ["input_blocks.3.0.op.weight"] = t, ["down_blocks.0.resnets.0.conv1.weight"] = t }, "x.safetensors"));
        Assert.Contains("mix", e.Message);
    }

    /// <summary>
    /// A synthetic full SD single-file checkpoint (UNet + VAE fixtures' tensors, the CLIP text fixture under
    /// cond_stage_model.transformer., position_ids, schedule buffers, EMA entries) splits and each part loads.
    /// </summary>
    [Fact]
    public void FullSingleFileCheckpointSplitsAndLoads()
    {
        var unetFx = GoldenFixture.All.First(f => f.Kind == "unet");
        var vaeFx = GoldenFixture.All.First(f => f.Kind == "vae");
        var clipFx = GoldenFixture.All.First(f => f.Kind == "clip_text");
        var unetRaw = FixtureWeights.ReadFloat32(unetFx, FixtureWeights.SafetensorsEntries(unetFx)[0], "compvis-single-file");
        var vaeRaw = FixtureWeights.ReadFloat32(vaeFx, FixtureWeights.SafetensorsEntries(vaeFx)[0], "compvis-single-file");
        var clipRaw = FixtureWeights.ReadFloat32(clipFx, FixtureWeights.SafetensorsEntries(clipFx)[0], "hf-clip-text");
        using var scope = NewDisposeScope();
        try
        {
            var full = new Dictionary<string, Tensor>();
            foreach (var (k, t) in unetRaw) full[k] = t;
            foreach (var (k, t) in vaeRaw) full[k] = t;
            foreach (var (k, t) in clipRaw) full[Cc.SingleFileTextEncoderPrefix + k] = t;
            string[] ignored =
            [
                Cc.SingleFileTextEncoderPrefix + "text_model.embeddings.position_ids", "betas", "alphas_cumprod", "posterior_mean_coef2",
                "model_ema.decay", "model_ema.num_updates", "model_ema.diffusion_modelinput_blocks00weight",
            ];
            full[ignored[0]] = arange(77, dtype: ScalarType.Int64).unsqueeze(0);
            foreach (var k in ignored.Skip(1)) full[k] = ones(3);

            var contents = Cc.Detect(full.Keys);
            Assert.True(contents.IsFullCheckpoint);
            Assert.All(contents.Naming.Values, n => Assert.Equal(Cc.SdNaming.SingleFile, n));
            Assert.Equal(ignored.Order(StringComparer.Ordinal), contents.Ignored.Order(StringComparer.Ordinal));

            var parts = Cc.Split(full, "full.safetensors");
            Assert.Equal(ignored.Order(StringComparer.Ordinal), parts.Ignored.Order(StringComparer.Ordinal));
            Assert.Equal(unetRaw.Count, parts.UNet.Count);
            Assert.Equal(vaeRaw.Count, parts.Vae.Count);

            using (var unet = new UNet2DConditionModel(UNetParityTests.ConfigOf(unetFx)))
                Assert.True(WeightLoader.Load(unet, parts.UNet, "full.safetensors").IsComplete);
            using (var vae = new AutoencoderKL(VaeParityTests.ConfigOf(vaeFx)))
                Assert.True(WeightLoader.Load(vae, parts.Vae, "full.safetensors").IsComplete);
            Assert.Equal(clipRaw.Keys.Order(StringComparer.Ordinal), parts.TextEncoder.Keys.Order(StringComparer.Ordinal));
            foreach (var (k, t) in clipRaw) Assert.Same(t, parts.TextEncoder[k]);
            Assert.Equal(clipRaw.Keys.Order(StringComparer.Ordinal), Cc.TextEncoderFromSingleFile(full).Keys.Order(StringComparer.Ordinal));

            // the same file read lazily, one component at a time, gives the same tensors
            using var tmp = RepoPaths.NewTemp();
            var path = tmp.File("full.safetensors");
            WriteSafetensors(path, full);
            using var file = SafetensorsFile.Open(path);
            var lazy = Cc.Read(file, Cc.SdComponents.Vae, ScalarType.Float32);
            Assert.Empty(lazy.UNet);
            Assert.Empty(lazy.TextEncoder);
            foreach (var (k, t) in parts.Vae) Assert.True(lazy.Vae[k].equal(t).all().item<bool>(), k);
            var (cfg, _) = UNet2DConditionConfig.FromTensorShapes(Cc.Shapes(file, Cc.SdComponents.UNet));
            Assert.Equal(UNetParityTests.ConfigOf(unetFx).BlockOutChannels, cfg.BlockOutChannels);
            FixtureWeights.DisposeAll(lazy.Vae.Values);
        }
        finally
        {
            FixtureWeights.DisposeAll(unetRaw.Values);
            FixtureWeights.DisposeAll(vaeRaw.Values);
            FixtureWeights.DisposeAll(clipRaw.Values);
        }
    }

    [Theory]
    [MemberData(nameof(UNetFixtures))]
    public void BareCompVisAndDiffusersNamesAreDetected(string fixture)
    {
        var fx = GoldenFixture.Get(fixture);
        var keys = FileShapes(fx).Keys.ToList();
        var bare = keys.Select(k => k[Cc.SingleFileUNetPrefix.Length..]).ToList();
        Assert.Equal(Cc.SdNaming.CompVis, Cc.Detect(bare).Naming[Cc.SdComponents.UNet]);
        int layers = Cc.InferCompVisUNetLayersPerBlock(bare);
        Assert.Equal(UNetParityTests.ConfigOf(fx).LayersPerBlock, layers);
        var diffusers = bare.Select(k => Cc.MapUNetKey(k, layers)).ToList();
        var detected = Cc.Detect(diffusers);
        Assert.Equal(Cc.SdComponents.UNet, detected.Components);
        Assert.Equal(Cc.SdNaming.Diffusers, detected.Naming[Cc.SdComponents.UNet]);
    }

    /// <summary>Minimal safetensors writer for the lazy-read test (standard layout, float32/int64 data).</summary>
    private static void WriteSafetensors(string path, IReadOnlyDictionary<string, Tensor> tensors)
    {
        var header = new JsonObject();
        long offset = 0;
        var blobs = new List<byte[]>();
        foreach (var (k, t) in tensors.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            using var c = t.contiguous();
            var bytes = c.bytes.ToArray();
            header[k] = new JsonObject
            {
                ["dtype"] = SafetensorsFile.FromScalarType(t.dtype),
                ["shape"] = new JsonArray(t.shape.Select(d => (JsonNode)d).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes.Length),
            };
            offset += bytes.Length;
            blobs.Add(bytes);
        }
        var json = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
        int pad = (8 - json.Length % 8) % 8;
        using var fs = File.Create(path);
        fs.Write(BitConverter.GetBytes((long)(json.Length + pad)));
        fs.Write(json);
        for (int i = 0; i < pad; i++) fs.WriteByte((byte)' ');
        foreach (var b in blobs) fs.Write(b);
    }
}
