using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Schedulers;
using SonicDiffusion.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests.Infrastructure;

/// <summary>A tiny random-weight SD v1-family model written as a diffusers folder (and optionally a single file).</summary>
public static class TinyStableDiffusion
{
    public static UNet2DConditionConfig UNetConfig { get; } = new()
    {
        SampleSize = 8,
        BlockOutChannels = [32, 64],
        LayersPerBlock = 1,
        DownBlockTypes = ["CrossAttnDownBlock2D", "DownBlock2D"],
        UpBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D"],
        AttentionHeadDim = [4],
        CrossAttentionDim = 32,
        NormNumGroups = 8,
    };

    public static AutoencoderKLConfig VaeConfig { get; } = new()
    {
        BlockOutChannels = [8, 16, 16, 16],
        LayersPerBlock = 1,
        NormNumGroups = 8,
        SampleSize = 64,
    };

    public static ClipTextConfig TextConfig { get; } = new()
    {
        HiddenSize = 32, NumHiddenLayers = 2, NumAttentionHeads = 4, IntermediateSize = 64,
    };

    /// <summary>Writes model_index.json, unet/, vae/, text_encoder/, scheduler/ (no tokenizer/: the built-in vocabulary is used).</summary>
    public static string WriteFolder(string dir, long seed = 1)
    {
        torch.manual_seed(seed);
        using var unet = new UNet2DConditionModel(UNetConfig);
        using var vae = new AutoencoderKL(VaeConfig);
        using var text = new ClipTextModel(TextConfig);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "model_index.json"), """{"_class_name": "StableDiffusionPipeline"}""");
        Save(unet, Path.Combine(dir, "unet"), "diffusion_pytorch_model.safetensors", UNetConfig);
        Save(vae, Path.Combine(dir, "vae"), "diffusion_pytorch_model.safetensors", VaeConfig);
        Save(text, Path.Combine(dir, "text_encoder"), "model.safetensors", TextConfig);
        Directory.CreateDirectory(Path.Combine(dir, "scheduler"));
        ConfigJson.Write(Path.Combine(dir, "scheduler", "scheduler_config.json"), SchedulerConfig.StableDiffusionV1 with { ClassName = "PNDMScheduler" });
        return dir;
    }

    private static void Save<T>(nn.Module module, string dir, string file, T config)
    {
        Directory.CreateDirectory(dir);
        var dict = module.named_parameters().ToDictionary(kv => kv.name, kv => kv.parameter.detach().clone());
        if (dict.Values.Any(t => !t.isfinite().all().item<bool>())) throw new InvalidOperationException($"{dir}: random init produced non-finite weights");
        SafetensorsWriter.Write(Path.Combine(dir, file), dict);
        foreach (var t in dict.Values) t.Dispose();
        ConfigJson.Write(Path.Combine(dir, "config.json"), config);
    }
}
