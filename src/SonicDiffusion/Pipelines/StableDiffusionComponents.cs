using SonicDiffusion.Diagnostics;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Schedulers;
using SonicDiffusion.Text;
using TorchSharp;
using static TorchSharp.torch;
using static SonicDiffusion.IO.CheckpointConverter;

namespace SonicDiffusion.Pipelines;

/// <summary>How to load a model: target device and compute dtype, partial loads, and where to say what was inferred.</summary>
public sealed record ModelLoadOptions
{
    public Device? Device { get; init; }
    /// <summary>Compute dtype: Float32 (default) or BFloat16 (on the CPU only where it has bf16 dot products). Float16 is refused on the CPU.</summary>
    public ScalarType Dtype { get; init; } = ScalarType.Float32;
    public bool AllowPartial { get; init; }
    /// <summary>Decode images tile by tile (less memory, see <see cref="AutoencoderKL.DecodeLatentsTiled"/>); null = whole.</summary>
    public VaeTiling? VaeTiling { get; init; }
    public Action<string>? Log { get; init; }
}

/// <summary>
/// The three networks, tokenizer and scheduler config of a Stable Diffusion v1 model, loaded from a diffusers folder
/// (model_index.json + unet/ vae/ text_encoder/ tokenizer/ scheduler/) or from a single-file checkpoint
/// (.safetensors / .ckpt with CompVis names). Missing configs are inferred from tensor shapes and reported.
/// </summary>
public sealed class StableDiffusionComponents : IDisposable
{
    public required UNet2DConditionModel Unet { get; init; }
    public required AutoencoderKL Vae { get; init; }
    public required ClipTextModel TextEncoder { get; init; }
    public required ClipTokenizer Tokenizer { get; init; }
    public required SchedulerConfig Scheduler { get; init; }
    public required Device Device { get; init; }
    public required ScalarType Dtype { get; init; }
    public required string Source { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = Array.Empty<string>();
    public VaeTiling? VaeTiling { get; init; }

    /// <summary>Pixels per latent cell (8 for SD v1).</summary>
    public int VaeScaleFactor => 1 << (Vae.Config.BlockOutChannels.Length - 1);

    /// <summary>Positions (h·w) of the latent of a <paramref name="width"/>×<paramref name="height"/> image.</summary>
    public long LatentTokens(int width, int height) => (long)(width / VaeScaleFactor) * (height / VaeScaleFactor);

    /// <summary>Scaled latents [B, 4, h, w] → images [B, 3, 8h, 8w] in [0, 1] (float32, CPU).</summary>
    public Tensor DecodeToImage(Tensor latents)
    {
        using var section = SectionProfiler.Measure(ProfileSections.VaeDecode);
        ProcessMemory.ReleaseFreeHeap();
        using var scope = torch.NewDisposeScope();
        var z = latents.to(Dtype);
        var x = VaeTiling is { } t ? Vae.DecodeLatentsTiled(z, t.Tile, t.Overlap) : Vae.DecodeLatents(z);
        return x.to_type(ScalarType.Float32).cpu().add(1).div(2).clamp(0, 1).MoveToOuterDisposeScope();
    }

    /// <summary>Images [B, 3, H, W] in [0, 1] → scaled latents (posterior mean × scaling factor).</summary>
    public Tensor EncodeImage(Tensor image)
    {
        using var scope = torch.NewDisposeScope();
        var x = image.to(Device).to(Dtype).mul(2).sub(1);
        return Vae.EncodeToLatents(x).MoveToOuterDisposeScope();
    }

    public static StableDiffusionComponents Load(string path, ModelLoadOptions? options = null)
    {
        options ??= new ModelLoadOptions();
        CpuKernels.Configure();
        TorchRuntime.CheckComputeDtype(options.Dtype, options.Device, "compute dtype");
        if (Directory.Exists(path)) return LoadFolder(Path.GetFullPath(path), options);
        if (File.Exists(path)) return LoadSingleFile(Path.GetFullPath(path), options);
        throw new SonicException($"{path}: model not found (give a diffusers folder or a single-file checkpoint)");
    }

    private static StableDiffusionComponents LoadFolder(string dir, ModelLoadOptions o)
    {
        var notes = new List<string>();
        void Note(string s) { notes.Add(s); o.Log?.Invoke(s); }
        if (!File.Exists(Path.Combine(dir, "model_index.json")))
            Note($"{dir}: no model_index.json; reading the component folders directly");

        var unetDir = RequireComponent(dir, "unet");
        var vaeDir = RequireComponent(dir, "vae");
        var textDir = RequireComponent(dir, "text_encoder");

        var unet = LoadComponent(unetDir, SdComponents.UNet, o, Note,
            cfgPath => ConfigJson.Read<UNet2DConditionConfig>(cfgPath),
            shapes => UNet2DConditionConfig.FromTensorShapes(shapes),
            cfg => BuildIn(o.Dtype, () => new UNet2DConditionModel(cfg)), (m, w, src) => WeightLoader.Load(m, w, src, o.AllowPartial));
        var vae = LoadComponent(vaeDir, SdComponents.Vae, o, Note,
            cfgPath => ConfigJson.Read<AutoencoderKLConfig>(cfgPath),
            shapes => AutoencoderKLConfig.FromTensorShapes(shapes),
            cfg => BuildIn(o.Dtype, () => new AutoencoderKL(cfg)), (m, w, src) => WeightLoader.Load(m, w, src, o.AllowPartial));
        var text = LoadComponent(textDir, SdComponents.TextEncoder, o, Note,
            cfgPath => ClipTextConfig.FromFile(cfgPath),
            shapes => (ClipTextConfig.FromTensorShapes(shapes.ToDictionary(kv => kv.Key, kv => kv.Value.Shape), textDir), "attention heads assumed hidden_size/64; hidden_act quick_gelu"),
            cfg => new ClipTextModel(cfg), (m, w, src) => m.LoadWeights(w, src, o.AllowPartial));

        ClipTokenizer tokenizer;
        var tokDir = Path.Combine(dir, "tokenizer");
        if (Directory.Exists(tokDir)) tokenizer = ClipTokenizer.FromFolder(tokDir);
        else { tokenizer = ClipTokenizer.Default; Note($"{dir}: no tokenizer/ folder; using the built-in SD v1 CLIP vocabulary"); }

        SchedulerConfig scheduler;
        var schedPath = Path.Combine(dir, "scheduler", "scheduler_config.json");
        if (File.Exists(schedPath)) scheduler = SchedulerConfig.Load(schedPath);
        else { scheduler = SchedulerConfig.StableDiffusionV1; Note($"{dir}: no scheduler/scheduler_config.json; using the SD v1 schedule"); }

        return Finish(unet, vae, text, tokenizer, scheduler, dir, notes, o);
    }

    private static StableDiffusionComponents LoadSingleFile(string file, ModelLoadOptions o)
    {
        var notes = new List<string>();
        void Note(string s) { notes.Add(s); o.Log?.Invoke(s); }
        using var src = TensorFiles.Open(file);
        var contents = Detect(src.Names, file);
        if (!contents.IsFullCheckpoint)
            throw new SonicException($"{file}: not a full Stable Diffusion checkpoint (found only {contents.Components}); a single file must hold the UNet, VAE and text encoder");
        var infos = src.Names.ToDictionary(n => n, src.Info);
        var (unetCfg, unetNote) = UNet2DConditionConfig.FromTensorShapes(Shapes(infos, SdComponents.UNet, file));
        var (vaeCfg, vaeNote) = AutoencoderKLConfig.FromTensorShapes(Shapes(infos, SdComponents.Vae, file));
        var textShapes = Shapes(infos, SdComponents.TextEncoder, file).ToDictionary(kv => kv.Key, kv => kv.Value.Shape);
        var textCfg = ClipTextConfig.FromTensorShapes(textShapes, file);
        Note($"{file}: single-file checkpoint, configs inferred from tensor shapes (UNet: {unetNote}; VAE: {vaeNote}; text encoder: heads = hidden/64)");

        var w = Open(src);
        var unet = BuildIn(o.Dtype, () => new UNet2DConditionModel(unetCfg));
        var vae = BuildIn(o.Dtype, () => new AutoencoderKL(vaeCfg));
        var text = new ClipTextModel(textCfg);
        try
        {
            using var section = SectionProfiler.Measure(ProfileSections.LoadWeights);
            WeightLoader.Load(unet, w.UNet, file, o.AllowPartial);
            WeightLoader.Load(vae, w.Vae, file, o.AllowPartial);
            text.LoadWeights(w.TextEncoder, file, o.AllowPartial);
        }
        catch
        {
            unet.Dispose();
            vae.Dispose();
            text.Dispose();
            throw;
        }
        return Finish(unet, vae, text, ClipTokenizer.Default, SchedulerConfig.StableDiffusionV1, file, notes, o);
    }

    /// <summary>
    /// Builds a module with its parameters created in <paramref name="dtype"/> and not randomly initialised (every one
    /// is loaded next), so a load neither spends time on init kernels nor holds a bf16 model in float32 first.
    /// </summary>
    private static T BuildIn<T>(ScalarType dtype, Func<T> build) where T : nn.Module
    {
        using var section = SectionProfiler.Measure(ProfileSections.LoadBuild);
        return UninitializedModules.Create(build, dtype).Module;
    }

    private static StableDiffusionComponents Finish(UNet2DConditionModel unet, AutoencoderKL vae, ClipTextModel text,
        ClipTokenizer tokenizer, SchedulerConfig scheduler, string source, List<string> notes, ModelLoadOptions o)
    {
        var device = o.Device ?? torch.CPU;
        foreach (var m in new nn.Module[] { unet, vae, text })
        {
            m.eval();
            foreach (var p in m.parameters()) p.requires_grad = false;
            m.to(device);
        }
        unet.to(o.Dtype);
        vae.to(o.Dtype);
        CpuKernels.KeepNarrowConvolutionsInFloat32(unet, o.Dtype, device);
        CpuKernels.KeepNarrowConvolutionsInFloat32(vae, o.Dtype, device);
        return new StableDiffusionComponents
        {
            Unet = unet, Vae = vae, TextEncoder = text, Tokenizer = tokenizer, Scheduler = scheduler,
            Device = device, Dtype = o.Dtype, Source = source, Notes = notes, VaeTiling = o.VaeTiling,
        };
    }

    private static string RequireComponent(string dir, string name)
    {
        var d = Path.Combine(dir, name);
        if (!Directory.Exists(d)) throw new SonicException($"{dir}: model folder has no {name}/ component");
        return d;
    }

    /// <summary>The weights file of a diffusers component folder (safetensors preferred over PyTorch .bin).</summary>
    public static string FindWeights(string componentDir)
    {
        string[] names =
        {
            "diffusion_pytorch_model.safetensors", "model.safetensors",
            "diffusion_pytorch_model.fp16.safetensors", "model.fp16.safetensors",
            "diffusion_pytorch_model.bin", "pytorch_model.bin",
        };
        return names.Select(n => Path.Combine(componentDir, n)).FirstOrDefault(File.Exists)
               ?? throw new SonicException($"{componentDir}: no weights file ({string.Join(", ", names)})");
    }

    private static TModel LoadComponent<TModel, TConfig>(string dir, SdComponents which, ModelLoadOptions o, Action<string> note,
        Func<string, TConfig> readConfig, Func<IReadOnlyDictionary<string, TensorInfo>, (TConfig, string)> inferConfig,
        Func<TConfig, TModel> build, Func<TModel, LazyWeights, string, LoadReport> load) where TModel : nn.Module
    {
        var file = FindWeights(dir);
        using var src = TensorFiles.Open(file);
        var cfgPath = Path.Combine(dir, "config.json");
        TConfig cfg;
        if (File.Exists(cfgPath)) cfg = readConfig(cfgPath);
        else
        {
            var infos = src.Names.ToDictionary(n => n, src.Info);
            (cfg, var why) = inferConfig(Shapes(infos, which, file));
            note($"{dir}: no config.json; inferred from tensor shapes ({why})");
        }
        var weights = Open(src, which);
        var bucket = which switch { SdComponents.UNet => weights.UNet, SdComponents.Vae => weights.Vae, _ => weights.TextEncoder };
        var model = build(cfg);
        try
        {
            using var section = SectionProfiler.Measure(ProfileSections.LoadWeights);
            var report = load(model, bucket, file);
            if (!report.IsComplete) note($"{file}: partial load ({report.Describe()})");
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public void Dispose()
    {
        Unet.Dispose();
        Vae.Dispose();
        TextEncoder.Dispose();
    }
}
