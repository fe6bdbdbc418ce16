using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// Writes trained models as the folders the product loaders read: diffusers components (config.json +
/// weights with diffusers/HF names), a full diffusers model folder (model_index.json, unet/, vae/, text_encoder/,
/// scheduler/) and an <c>audio_encoder/</c> folder (config.json = Cnn14Config + "front_end", model.safetensors with the
/// names <see cref="ClapAudioEncoder"/> loads). Weights are stored as float16 by default (float32 compute on load);
/// integer buffers stay as they are. Every folder is written into a temporary sibling and renamed into place, so a
/// folder that exists is complete.
/// </summary>
public static class ModelExport
{
    public const string DiffusersWeights = "diffusion_pytorch_model.safetensors";
    public const string TransformersWeights = "model.safetensors";

    /// <summary>Parameters and buffers of <paramref name="module"/> (floating ones converted to <paramref name="dtype"/>), minus <paramref name="exclude"/>.</summary>
    public static void WriteWeights(nn.Module module, string path, ScalarType dtype, ISet<string>? exclude = null, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var entries = new List<SafetensorsWriter.Entry>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, t) in module.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(module.named_buffers()))
        {
            if (exclude?.Contains(name) == true || !seen.Add(name)) continue;
            var target = t.is_floating_point() ? dtype : t.dtype;
            var src = t;
            entries.Add(new SafetensorsWriter.Entry(name, SafetensorsFile.FromScalarType(target), t.shape,
                () => src.detach().to_type(target), DisposeAfterWrite: true));
        }
        SafetensorsWriter.Write(path, entries, metadata);
    }

    /// <summary>A config record as JSON (snake_case) with diffusers' "_class_name" first.</summary>
    public static JsonObject ConfigWithClass<T>(T config, string className)
    {
        var body = JsonSerializer.SerializeToNode(config, ConfigJson.Options)!.AsObject();
        var result = new JsonObject { ["_class_name"] = className };
        foreach (var (k, v) in body) result[k] = v?.DeepClone();
        return result;
    }

    public static void WriteJson(string path, JsonNode json) =>
        TrainingCheckpoint.WriteDurable(path, System.Text.Encoding.UTF8.GetBytes(json.ToJsonString(ConfigJson.Options)));

    /// <summary>Runs <paramref name="write"/> on an empty temporary folder next to <paramref name="dir"/>, then replaces <paramref name="dir"/> with it.</summary>
    public static void WriteFolderAtomically(string dir, Action<string> write)
    {
        string full = Path.GetFullPath(dir);
        string parent = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(parent);
        string tmp = Path.Combine(parent, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        Directory.CreateDirectory(tmp);
        try
        {
            write(tmp);
            if (Directory.Exists(full))
            {
                string old = tmp + ".old";
                Directory.Move(full, old);
                Directory.Move(tmp, full);
                Directory.Delete(old, true);
            }
            else Directory.Move(tmp, full);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        }
    }

    // ---------------------------------------------------------------- VAE

    /// <summary>Writes a diffusers <c>vae/</c> folder: config.json (with the given scaling factor) + diffusion_pytorch_model.safetensors.</summary>
    public static void WriteVae(AutoencoderKL vae, string dir, double scalingFactor, ScalarType dtype = ScalarType.Float16)
    {
        var config = vae.Config with { ScalingFactor = scalingFactor };
        WriteFolderAtomically(dir, tmp => WriteVaeInto(vae, config, tmp, dtype));
    }

    private static void WriteVaeInto(AutoencoderKL vae, AutoencoderKLConfig config, string dir, ScalarType dtype)
    {
        WriteJson(Path.Combine(dir, "config.json"), ConfigWithClass(config, "AutoencoderKL"));
        WriteWeights(vae, Path.Combine(dir, DiffusersWeights), dtype);
    }

    /// <summary>Loads a diffusers <c>vae/</c> folder (config.json required) into a float32 model in eval mode.</summary>
    public static AutoencoderKL LoadVae(string dir)
    {
        if (!Directory.Exists(dir)) throw new SonicException($"{dir}: VAE folder not found");
        var config = ConfigJson.Read<AutoencoderKLConfig>(Path.Combine(dir, "config.json"));
        var vae = new AutoencoderKL(config);
        LoadInto(vae, StableDiffusionComponents.FindWeights(dir));
        vae.eval();
        return vae;
    }

    private static void LoadInto(nn.Module module, string file)
    {
        using var src = SafetensorsFile.Open(file);
        var w = src.ReadAll(ScalarType.Float32);
        try { WeightLoader.Load(module, w, file); }
        finally { foreach (var t in w.Values) t.Dispose(); }
    }

    // ---------------------------------------------------------------- text-to-image model

    /// <summary>SD v1's scheduler/scheduler_config.json (PNDMScheduler), as diffusers ships it.</summary>
    public static JsonObject StableDiffusionV1Scheduler() => new()
    {
        ["_class_name"] = "PNDMScheduler",
        ["beta_end"] = 0.012,
        ["beta_schedule"] = "scaled_linear",
        ["beta_start"] = 0.00085,
        ["clip_sample"] = false,
        ["num_train_timesteps"] = 1000,
        ["prediction_type"] = "epsilon",
        ["set_alpha_to_one"] = false,
        ["skip_prk_steps"] = true,
        ["steps_offset"] = 1,
        ["trained_betas"] = null,
    };

    /// <summary>
    /// Writes a diffusers Stable Diffusion folder: model_index.json, unet/, text_encoder/, vae/ (copied from
    /// <paramref name="vaeDir"/>), scheduler/. No tokenizer/ folder: loaders use the built-in SD v1 CLIP vocabulary,
    /// which the text encoder was trained with.
    /// </summary>
    public static void WriteStableDiffusion(string dir, UNet2DConditionModel unet, ClipTextModel text, string vaeDir, ScalarType dtype = ScalarType.Float16)
    {
        WriteFolderAtomically(dir, tmp =>
        {
            WriteJson(Path.Combine(tmp, "model_index.json"), new JsonObject
            {
                ["_class_name"] = "StableDiffusionPipeline",
                ["scheduler"] = new JsonArray("diffusers", "PNDMScheduler"),
                ["text_encoder"] = new JsonArray("transformers", "CLIPTextModel"),
                ["unet"] = new JsonArray("diffusers", "UNet2DConditionModel"),
                ["vae"] = new JsonArray("diffusers", "AutoencoderKL"),
            });
            string unetDir = Directory.CreateDirectory(Path.Combine(tmp, "unet")).FullName;
            WriteJson(Path.Combine(unetDir, "config.json"), ConfigWithClass(unet.Config, "UNet2DConditionModel"));
            WriteWeights(unet, Path.Combine(unetDir, DiffusersWeights), dtype);

            string textDir = Directory.CreateDirectory(Path.Combine(tmp, "text_encoder")).FullName;
            var textCfg = JsonSerializer.SerializeToNode(text.Config, ConfigJson.Options)!.AsObject();
            textCfg["architectures"] = new JsonArray("CLIPTextModel");
            textCfg["model_type"] = "clip_text_model";
            WriteJson(Path.Combine(textDir, "config.json"), textCfg);
            WriteWeights(text, Path.Combine(textDir, TransformersWeights), dtype);

            string vaeOut = Directory.CreateDirectory(Path.Combine(tmp, "vae")).FullName;
            foreach (var f in new[] { "config.json", Path.GetFileName(StableDiffusionComponents.FindWeights(vaeDir)) })
                File.Copy(Path.Combine(vaeDir, f), Path.Combine(vaeOut, f));

            string schedDir = Directory.CreateDirectory(Path.Combine(tmp, "scheduler")).FullName;
            WriteJson(Path.Combine(schedDir, "scheduler_config.json"), StableDiffusionV1Scheduler());
        });
    }

    // ---------------------------------------------------------------- audio encoder

    /// <summary>
    /// Writes an <c>audio_encoder/</c> folder: config.json (the Cnn14Config fields plus "front_end": the
    /// ClapFrontEndConfig the encoder was trained with) and model.safetensors (CLAP 2022 audio-branch names without
    /// the <c>audio_encoder.</c> prefix, BatchNorm statistics included; the STFT/mel front-end tensors are left out,
    /// the front end computes them).
    /// </summary>
    public static void WriteAudioEncoder(ClapAudioEncoder encoder, ClapFrontEndConfig frontEnd, string dir, ScalarType dtype = ScalarType.Float16)
    {
        WriteFolderAtomically(dir, tmp =>
        {
            var cfg = ConfigWithClass(encoder.Config, "ClapAudioEncoder");
            cfg["front_end"] = JsonSerializer.SerializeToNode(frontEnd, ConfigJson.Options);
            WriteJson(Path.Combine(tmp, "config.json"), cfg);
            WriteWeights(encoder, Path.Combine(tmp, TransformersWeights), dtype, new HashSet<string>(ClapAudioEncoder.FrontEndNames));
        });
    }

    /// <summary>Loads an <c>audio_encoder/</c> folder: the encoder (float32, eval mode) and its front-end config.</summary>
    public static (ClapAudioEncoder Encoder, ClapFrontEndConfig FrontEnd) LoadAudioEncoder(string dir)
    {
        string cfgPath = Path.Combine(dir, "config.json");
        if (!File.Exists(cfgPath)) throw new SonicException($"{dir}: audio encoder folder has no config.json");
        string json = File.ReadAllText(cfgPath);
        var config = Cnn14Config.FromJson(json, cfgPath);
        var frontEndNode = JsonNode.Parse(json)?["front_end"];
        var frontEnd = frontEndNode is null ? new ClapFrontEndConfig() : ClapFrontEndConfig.FromJson(frontEndNode.ToJsonString(), cfgPath + ": front_end");
        string file = Path.Combine(dir, TransformersWeights);
        if (!File.Exists(file)) throw new SonicException($"{dir}: audio encoder folder has no {TransformersWeights}");
        var encoder = new ClapAudioEncoder(config);
        using var src = SafetensorsFile.Open(file);
        var w = src.ReadAll(ScalarType.Float32);
        try { encoder.LoadWeights(w, file); }
        finally { foreach (var t in w.Values) t.Dispose(); }
        encoder.eval();
        return (encoder, frontEnd);
    }
}
