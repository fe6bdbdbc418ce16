using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

public class CheckpointInspectorTests
{
    public static TheoryData<string> GoldenWeightFiles()
    {
        var d = new TheoryData<string>();
        foreach (var f in GoldenFixture.All)
            foreach (var w in f.Weights.Select(w => w!.AsObject()))
                d.Add($"{f.Name}/{(string)w["file"]!}");
        return d;
    }

    /// <summary>The kind fixture.json's naming and key prefix imply; null where the inspector has no kind for it.</summary>
    private static (CheckpointKind, string?) ExpectedKind(JsonObject w)
    {
        string naming = (string)w["naming"]!, prefix = (string?)w["key_prefix"] ?? "";
        return (naming, prefix) switch
        {
            ("compvis-single-file", "model.diffusion_model.") => (CheckpointKind.UNet, "compvis-single-file"),
            ("compvis-single-file", "first_stage_model.") => (CheckpointKind.Vae, "compvis-single-file"),
            ("compvis-single-file", "") => (CheckpointKind.StableDiffusion, "compvis-single-file"),
            ("hf-clip-text", _) => (CheckpointKind.TextEncoder, "hf-clip-text"),
            ("sonicdiffusion-projector", _) => (CheckpointKind.SonicProjector, "sonicdiffusion"),
            ("clap-2022", _) => (CheckpointKind.Clap2022, "clap-2022"),
            ("hf-clip", _) => (CheckpointKind.Clip, "hf-clip"),
            ("openai-clip", _) => (CheckpointKind.Clip, "openai-clip"),
            ("wav2clip-checkpoint", _) => (CheckpointKind.Wav2Clip, "wav2clip-checkpoint"),
            ("torchvision-inception3", _) => (CheckpointKind.FidInception, "torchvision-inception3"),
            _ => (CheckpointKind.Unknown, null),       // sonicdiffusion-block: one transformer block, no component kind
        };
    }

    [Theory]
    [MemberData(nameof(GoldenWeightFiles))]
    public void GoldenWeightsAreRecognised(string id)
    {
        var f = GoldenFixture.Get(id[..id.IndexOf('/')]);
        var w = f.Weights.Select(x => x!.AsObject()).Single(x => (string)x["file"]! == id[(id.IndexOf('/') + 1)..]);
        var c = CheckpointInspector.InspectFile(f.PathOf((string)w["file"]!));
        Assert.Equal(ExpectedKind(w), (c.Kind, c.Naming));
        Assert.Equal((int)w["tensors"]!, c.Tensors.Count);
        long floats = c.Totals.Where(t => t.DType is "F16" or "F32" or "BF16" or "F64").Sum(t => t.Elements);
        Assert.Equal((long)w["float_elements"]!, floats);
        Assert.Equal(c.Totals.Sum(t => t.Tensors), c.Tensors.Count);
        Assert.Equal(c.Tensors.Sum(t => t.NumElements), c.TotalElements);
    }

    [Fact]
    public void KindsFromKeyNames()
    {
        (CheckpointKind, string?) K(params string[] names) => CheckpointInspector.DetectKind(names);
        Assert.Equal((CheckpointKind.StableDiffusion, "compvis-single-file"), K("model.diffusion_model.input_blocks.0.0.weight", "first_stage_model.encoder.conv_in.weight", "cond_stage_model.transformer.text_model.final_layer_norm.weight"));
        Assert.Equal((CheckpointKind.UNet, "diffusers"), K("conv_in.weight", "down_blocks.0.resnets.0.conv1.weight", "up_blocks.0.resnets.0.conv1.weight", "mid_block.resnets.0.conv1.weight"));
        Assert.Equal((CheckpointKind.UNet, "compvis"), K("input_blocks.0.0.weight", "middle_block.0.in_layers.0.weight", "output_blocks.0.0.in_layers.0.weight"));
        Assert.Equal((CheckpointKind.Vae, "diffusers"), K("encoder.down_blocks.0.resnets.0.conv1.weight", "decoder.up_blocks.0.resnets.0.conv1.weight", "quant_conv.weight"));
        Assert.Equal((CheckpointKind.Vae, "compvis"), K("encoder.down.0.block.0.conv1.weight", "decoder.up.0.block.0.conv1.weight"));
        Assert.Equal((CheckpointKind.TextEncoder, "hf-clip-text"), K("text_model.embeddings.token_embedding.weight"));
        Assert.Equal((CheckpointKind.SonicGates, "diffusers"), K("down_blocks.1.attentions.0.transformer_blocks.0.attn_adapter.to_q.weight", "up_blocks.1.attentions.0.transformer_blocks.0.gate_adapter", "mid_block.attentions.0.transformer_blocks.0.norm_adapter.weight"));
        Assert.Equal((CheckpointKind.SonicProjector, "sonicdiffusion"), K("audio_emb_projection.0.weight", "cross_attention.0.to_q_adapter.weight", "to_out_adapter.0.weight"));
        Assert.Equal((CheckpointKind.Clap2022, "clap-2022"), K("audio_encoder.base.fc1.weight", "caption_encoder.base.embeddings.word_embeddings.weight"));
        Assert.Equal((CheckpointKind.Unknown, null), K("foo.weight"));
        Assert.Equal((CheckpointKind.Unknown, null), K());
    }

    [Fact]
    public void LightningCheckpointShowsWrapperSkippedEntriesAndAdapters()
    {
        var c = CheckpointInspector.InspectFile(Path.Combine(RepoPaths.Fixtures, "pt", "lightning.ckpt"));
        Assert.Equal(CheckpointKind.StableDiffusion, c.Kind);
        Assert.Equal(TensorFileFormat.TorchZip, c.Format);
        Assert.Equal("state_dict", c.Wrapper);
        Assert.Contains("global_step", c.SkippedEntries);
        var f16 = c.Totals.Single(t => t.DType == "F16");
        Assert.Equal(2, f16.Tensors);
        Assert.Equal(4 * 2 * 3 * 3 + 4, f16.Elements);
        Assert.Equal(2 * f16.Elements, f16.Bytes);
        Assert.Equal(0, c.AudioAdapterTensors);
    }

    [Fact]
    public void DiffusersFolder()
    {
        using var dir = RepoPaths.NewTemp();
        File.WriteAllText(dir.File("model_index.json"),
            "{\"_class_name\":\"StableDiffusionPipeline\",\"_diffusers_version\":\"0.20.0\",\"unet\":[\"diffusers\",\"UNet2DConditionModel\"],\"vae\":[\"diffusers\",\"AutoencoderKL\"],\"text_encoder\":[\"transformers\",\"CLIPTextModel\"],\"scheduler\":[\"diffusers\",\"PNDMScheduler\"],\"safety_checker\":[null,null]}");
        Directory.CreateDirectory(dir.File("unet"));
        Directory.CreateDirectory(dir.File("vae"));
        Directory.CreateDirectory(dir.File("text_encoder"));
        Directory.CreateDirectory(dir.File("scheduler"));
        File.WriteAllText(Path.Combine(dir.Path, "unet", "config.json"), "{\"_class_name\":\"UNet2DConditionModel\"}");
        File.WriteAllText(Path.Combine(dir.Path, "vae", "config.json"), "{\"_class_name\":\"AutoencoderKL\"}");
        File.WriteAllText(Path.Combine(dir.Path, "text_encoder", "config.json"), "{\"architectures\":[\"CLIPTextModel\"]}");
        using var t = torch.zeros(2, 2, dtype: ScalarType.Float16);
        SafetensorsWriter.Write(Path.Combine(dir.Path, "unet", "diffusion_pytorch_model.safetensors"),
            new Dictionary<string, Tensor> { ["conv_in.weight"] = t, ["down_blocks.0.x"] = t, ["up_blocks.0.x"] = t });
        SafetensorsWriter.Write(Path.Combine(dir.Path, "unet", "diffusion_pytorch_model.fp16.safetensors"), new Dictionary<string, Tensor> { ["other"] = t });
        SafetensorsWriter.Write(Path.Combine(dir.Path, "vae", "diffusion_pytorch_model.safetensors"),
            new Dictionary<string, Tensor> { ["encoder.down_blocks.0.x"] = t, ["decoder.up_blocks.0.x"] = t });
        // the text encoder as a torch .bin (a zip checkpoint)
        File.Copy(Path.Combine(RepoPaths.Fixtures, "pt", "plain.pt"), Path.Combine(dir.Path, "text_encoder", "pytorch_model.bin"));

        var r = CheckpointInspector.Inspect(dir.Path);
        Assert.True(r.IsFolder);
        Assert.Equal("StableDiffusionPipeline", r.PipelineClass);
        Assert.Equal(new[] { "unet", "vae", "text_encoder" }, r.Components.Select(c => c.Component));
        var unet = r.Components[0];
        Assert.Equal((CheckpointKind.UNet, "diffusers"), (unet.Kind, unet.Naming));
        Assert.EndsWith("diffusion_pytorch_model.safetensors", unet.File);
        Assert.Equal("UNet2DConditionModel", unet.ClassName);
        Assert.Equal(3 * 4, unet.TotalElements);
        Assert.Equal(CheckpointKind.Vae, r.Components[1].Kind);
        Assert.Equal(TensorFileFormat.TorchZip, r.Components[2].Format);
        Assert.Equal("CLIPTextModel", r.Components[2].ClassName);
        Assert.Contains(r.Notes, n => n.StartsWith("scheduler:", StringComparison.Ordinal));

        // a single component folder
        var u = CheckpointInspector.Inspect(Path.Combine(dir.Path, "unet"));
        Assert.Single(u.Components);
        Assert.Equal(CheckpointKind.UNet, u.Components[0].Kind);

        var ex = Assert.Throws<SonicException>(() => CheckpointInspector.Inspect(dir.File("scheduler")));
        TensorAssert.IsOneLineNaming(ex, "scheduler");
    }
}
