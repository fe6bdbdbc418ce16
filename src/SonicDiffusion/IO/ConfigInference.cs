using System.Text.Json;
using SonicDiffusion.Core;
using SonicDiffusion.Models;
using SonicDiffusion.Text;
using static SonicDiffusion.IO.CheckpointConverter;

namespace SonicDiffusion.IO;

/// <summary>A config inferred from tensor shapes for one component, as diffusers-style JSON, with what could not be inferred.</summary>
public sealed record InferredConfig(string Component, string Json, string Note);

/// <summary>Infers the configs of the components a weights file holds, from tensor shapes alone (no data is read).</summary>
public static class ConfigInference
{
    public static IReadOnlyList<InferredConfig> Infer(ITensorSource file, CheckpointKind kind)
    {
        var infos = file.Names.ToDictionary(n => n, file.Info);
        var result = new List<InferredConfig>();
        string Json<T>(T cfg) => JsonSerializer.Serialize(cfg, ConfigJson.Options);
        Dictionary<string, long[]> ShapesOf(SdComponents c) => Shapes(infos, c, file.Path).ToDictionary(kv => kv.Key, kv => kv.Value.Shape);
        switch (kind)
        {
            case CheckpointKind.StableDiffusion:
            case CheckpointKind.UNet:
            case CheckpointKind.Vae:
            case CheckpointKind.TextEncoder:
            {
                var contents = Detect(file.Names, file.Path);
                if (contents.Has(SdComponents.UNet))
                {
                    var (cfg, note) = UNet2DConditionConfig.FromTensorShapes(Shapes(infos, SdComponents.UNet, file.Path));
                    result.Add(new("unet", Json(cfg), note));
                }
                if (contents.Has(SdComponents.Vae))
                {
                    var (cfg, note) = AutoencoderKLConfig.FromTensorShapes(Shapes(infos, SdComponents.Vae, file.Path));
                    result.Add(new("vae", Json(cfg), note));
                }
                if (contents.Has(SdComponents.TextEncoder))
                {
                    var cfg = ClipTextConfig.FromTensorShapes(ShapesOf(SdComponents.TextEncoder), file.Path);
                    result.Add(new("text_encoder", Json(cfg), "attention heads assumed hidden_size/64; hidden_act quick_gelu and layer_norm_eps 1e-5 assumed"));
                }
                break;
            }
            case CheckpointKind.Clap2022:
                result.Add(new("audio_encoder", Json(Cnn14Config.FromTensorShapes(file)), "pooling, eps and front-end constants are the CLAP 2022 defaults"));
                break;
            case CheckpointKind.SonicProjector:
                result.Add(new("audio_projector", Json(AudioProjectorConfig.FromTensorShapes(file)), "heads assumed 8; residual_mode official (the released weights' forward)"));
                break;
        }
        return result;
    }
}
