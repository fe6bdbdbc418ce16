using System.Text.Json;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Pipelines;

/// <summary>
/// A complete SonicDiffusion model: Stable Diffusion v1 components, the CLAP 2022 audio encoder (and its log-mel front
/// end), the audio projector and the gated audio cross-attention adapters installed in the UNet.
/// <para><b>Model bundle</b> (one folder; what <see cref="SaveBundle"/> writes): the SD components in diffusers layout
/// (<c>model_index.json</c>, <c>unet/</c>, <c>vae/</c>, <c>text_encoder/</c>, <c>scheduler/</c>, optional
/// <c>tokenizer/</c>) plus <c>audio_encoder/</c> (<see cref="Cnn14Config"/> <c>config.json</c> + <c>model.safetensors</c>
/// with the names of <c>CLAP_weights_2022.pth['model']</c>' audio branch, <c>audio_encoder.*</c>; unprefixed names are
/// read too), <c>audio_projector/</c> (<see cref="AudioProjectorConfig"/>
/// <c>config.json</c> incl. <c>residual_mode</c> + <c>model.safetensors</c> = <c>Adapter.state_dict()</c>) and
/// <c>adapters/</c> (<see cref="AudioAdapterConfig"/> <c>config.json</c> with the sites and default β +
/// <c>model.safetensors</c> = the gate dict). A missing <c>config.json</c> is inferred from the tensor shapes and said.</para>
/// <para><b>Official files</b>: <see cref="OfficialSonicFiles"/> (gate dict, projector, CLAP checkpoint) replace the
/// bundle's parts, or supply them for a plain SD v1 model. Their configs are inferred and reported in <see cref="Notes"/>.</para>
/// </summary>
public sealed class SonicDiffusionModel : IDisposable
{
    public const string AudioEncoderFolder = "audio_encoder";
    public const string AudioProjectorFolder = "audio_projector";
    public const string AdaptersFolder = "adapters";
    public const string WeightsFile = "model.safetensors";
    public const string ConfigFile = "config.json";

    public required StableDiffusionComponents Sd { get; init; }
    public required ClapAudioEncoder AudioEncoder { get; init; }
    public required ClapFrontEnd FrontEnd { get; init; }
    public required AudioProjector Projector { get; init; }
    public required AudioAdapterSet Adapters { get; init; }
    public required string Source { get; init; }
    /// <summary>Where each audio part came from: audio_encoder, audio_projector, adapters → file.</summary>
    public required IReadOnlyDictionary<string, string> Origins { get; init; }
    /// <summary>What was inferred or defaulted while loading (also sent to <see cref="ModelLoadOptions.Log"/>).</summary>
    public required IReadOnlyList<string> Notes { get; init; }

    public Device Device => Sd.Device;

    /// <summary>True when <paramref name="dir"/> has any of the bundle's audio folders.</summary>
    public static bool IsBundle(string dir) =>
        Directory.Exists(dir) && new[] { AudioEncoderFolder, AudioProjectorFolder, AdaptersFolder }.Any(f => Directory.Exists(Path.Combine(dir, f)));

    /// <summary>
    /// Loads <paramref name="model"/> (a bundle, or a plain SD v1 folder / single file) and the official files of
    /// <paramref name="sonic"/> (null = none). Every audio part must come from one or the other.
    /// </summary>
    public static SonicDiffusionModel Load(string model, OfficialSonicFiles? sonic = null, ModelLoadOptions? options = null)
    {
        options ??= new ModelLoadOptions();
        var notes = new List<string>();
        void Note(string s) { notes.Add(s); options.Log?.Invoke(s); }
        bool bundle = IsBundle(model);
        string? Part(string folder) => bundle && Directory.Exists(Path.Combine(model, folder)) ? Path.Combine(model, folder) : null;
        string? encoderDir = Part(AudioEncoderFolder), projectorDir = Part(AudioProjectorFolder), adaptersDir = Part(AdaptersFolder);
        string Missing(string what, string folder) =>
            $"{model}: no {what}: the model has no {folder}/ folder and --sonic named no {what} file";
        if (sonic?.Clap is null && encoderDir is null) throw new SonicException(Missing("CLAP audio encoder", AudioEncoderFolder));
        if (sonic?.Projector is null && projectorDir is null) throw new SonicException(Missing("audio projector", AudioProjectorFolder));
        if (sonic?.GateDict is null && adaptersDir is null) throw new SonicException(Missing("adapter weights (gate dict)", AdaptersFolder));

        var sd = StableDiffusionComponents.Load(model, options);
        ClapAudioEncoder? encoder = null;
        AudioProjector? projector = null;
        ClapFrontEnd? frontEnd = null;
        try
        {
            var origins = new Dictionary<string, string>();
            var device = sd.Device;

            (encoder, origins[AudioEncoderFolder]) = sonic?.Clap is { } clap ? LoadClapCheckpoint(clap, Note) : LoadEncoderFolder(encoderDir!, Note);
            encoder.to(device);
            var frontEndConfig = (sonic?.Clap is null ? FolderFrontEnd(encoderDir!) : null) ?? encoder.Config.FrontEnd();
            frontEnd = encoder.FrontEndLoaded
                ? new ClapFrontEnd(frontEndConfig, encoder.MelW, encoder.StftReal, encoder.StftImag)
                : new ClapFrontEnd(frontEndConfig);

            (projector, origins[AudioProjectorFolder]) = sonic?.Projector is { } proj ? LoadOfficialProjector(proj, Note) : LoadProjectorFolder(projectorDir!, Note);
            projector.to(device);

            AudioAdapterConfig adapterConfig;
            string adapterFile;
            if (sonic?.GateDict is { } gate)
            {
                var cfgPath = adaptersDir is null ? null : Path.Combine(adaptersDir, ConfigFile);
                adapterConfig = cfgPath != null && File.Exists(cfgPath) ? AudioAdapterConfig.Read(cfgPath) : AudioAdapterConfig.Official;
                adapterFile = gate;
            }
            else
            {
                adapterFile = StableDiffusionComponents.FindWeights(adaptersDir!);
                var cfgPath = Path.Combine(adaptersDir!, ConfigFile);
                if (File.Exists(cfgPath)) adapterConfig = AudioAdapterConfig.Read(cfgPath);
                else
                {
                    adapterConfig = new AudioAdapterConfig { Sites = GateDictSites(adapterFile, sd.Unet.Config).ToArray() };
                    Note($"{adaptersDir}: no {ConfigFile}; adapter sites inferred from the weights ({adapterConfig.Sites!.Length} sites), β 1");
                }
            }
            var adapters = AudioAdapterSet.Install(sd.Unet, adapterConfig, adapterFile);
            LoadGateDict(adapters, adapterFile, sd.Unet.Config);
            origins[AdaptersFolder] = adapterFile;
            foreach (var p in adapters.Parameters().Values) p.requires_grad = false;
            if (sonic?.GateDict is not null)
                Note($"{adapterFile}: gate dict, {adapters.TensorCount} tensors at {adapters.Sites.Count} sites ({adapters.PlacementText()}), audio tokens {adapters.ContextDim} wide");

            if (encoder.Config.DProj != projector.Config.AudioDim)
                throw new SonicException($"{origins[AudioProjectorFolder]}: the audio projector reads {projector.Config.AudioDim}-d embeddings but the CLAP encoder ({origins[AudioEncoderFolder]}) gives {encoder.Config.DProj}-d");
            if (projector.Config.ContextDim != adapters.ContextDim)
                throw new SonicException($"{origins[AudioProjectorFolder]}: the audio projector makes {projector.Config.ContextDim}-wide tokens but the adapters ({adapterFile}) read {adapters.ContextDim}-wide");

            return new SonicDiffusionModel
            {
                Sd = sd, AudioEncoder = encoder, FrontEnd = frontEnd, Projector = projector, Adapters = adapters,
                Source = model, Origins = origins, Notes = sd.Notes.Concat(notes).ToList(),
            };
        }
        catch
        {
            sd.Dispose();
            encoder?.Dispose();
            projector?.Dispose();
            frontEnd?.Dispose();
            throw;
        }
    }

    /// <summary>The adapter sites a gate dict file holds (in UNet order), read from its tensor names.</summary>
    public static IReadOnlyList<string> GateDictSites(string file, UNet2DConditionConfig unet)
    {
        using var src = TensorFiles.Open(file);
        return AudioAdapterSet.SitesOf(src.Names.Select(n => GateKey(n, unet, file)).ToList());
    }

    private static string GateKey(string name, UNet2DConditionConfig unet, string source) =>
        GatedAudioAttention.IsAdapterTensor(name) ? CheckpointConverter.GateKeyToDiffusers(name, unet.LayersPerBlock, source) : name;

    /// <summary>Loads a gate dict file (any supported tensors format; official or diffusers names) into installed adapters.</summary>
    public static void LoadGateDict(AudioAdapterSet adapters, string file, UNet2DConditionConfig unet) => LoadGateDict(adapters, file, unet, allowExtraSites: false);

    /// <summary>As above; with <paramref name="allowExtraSites"/> sites the adapters lack are skipped and returned.</summary>
    public static IReadOnlyList<string> LoadGateDict(AudioAdapterSet adapters, string file, UNet2DConditionConfig unet, bool allowExtraSites)
    {
        using var src = TensorFiles.Open(file);
        var raw = src.Names.ToDictionary(n => n, n => src.Read(n, ScalarType.Float32));
        try
        {
            var named = CheckpointConverter.GateDictToDiffusers(raw, unet.LayersPerBlock, file, out _);
            return adapters.LoadWeights(named, file, allowExtraSites);
        }
        finally
        {
            foreach (var t in raw.Values) t.Dispose();
        }
    }

    private static (ClapAudioEncoder, string) LoadClapCheckpoint(string file, Action<string> note)
    {
        using var src = TensorFiles.Open(file);
        var shapes = src.Names.ToDictionary(n => n, n => src.Info(n).Shape);
        var config = Cnn14Config.FromTensorShapes(shapes, file);
        var weights = CheckpointConverter.ReadAudioWeights(src, ScalarType.Float32);
        try
        {
            var encoder = new ClapAudioEncoder(config);
            encoder.LoadWeights(weights, file);
            int other = src.Names.Count(n => !n.StartsWith(CheckpointConverter.ClapAudioPrefix, StringComparison.Ordinal));
            note($"{file}: CLAP audio branch, {weights.Count} tensors ({other} text-branch/other tensors ignored); Cnn14 widths [{string.Join(",", config.ConvBlockWidths)}], {config.DProj}-d embedding; " +
                 (encoder.FrontEndLoaded ? "STFT/mel tensors from the checkpoint" : "STFT/mel computed (not in the checkpoint)"));
            return (encoder, file);
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
    }

    /// <summary>The "front_end" of an encoder folder's config.json (encoders trained with their own log-mel settings), or null.</summary>
    private static ClapFrontEndConfig? FolderFrontEnd(string dir)
    {
        var cfgPath = Path.Combine(dir, ConfigFile);
        if (!File.Exists(cfgPath)) return null;
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(cfgPath))?["front_end"];
        return node is null ? null : ClapFrontEndConfig.FromJson(node.ToJsonString(), cfgPath + ": front_end");
    }

    private static (ClapAudioEncoder, string) LoadEncoderFolder(string dir, Action<string> note)
    {
        var file = StableDiffusionComponents.FindWeights(dir);
        using var src = TensorFiles.Open(file);
        var cfgPath = Path.Combine(dir, ConfigFile);
        Cnn14Config config;
        if (File.Exists(cfgPath)) config = Cnn14Config.FromJson(File.ReadAllText(cfgPath), cfgPath);
        else
        {
            config = Cnn14Config.FromTensorShapes(src);
            note($"{dir}: no {ConfigFile}; Cnn14 config inferred from tensor shapes (widths [{string.Join(",", config.ConvBlockWidths)}], {config.DProj}-d embedding, CLAP 2022 front end)");
        }
        bool prefixed = src.Names.All(n => n.StartsWith(CheckpointConverter.ClapAudioPrefix, StringComparison.Ordinal));
        var weights = prefixed ? CheckpointConverter.ReadAudioWeights(src, ScalarType.Float32) : src.Names.ToDictionary(n => n, n => src.Read(n, ScalarType.Float32));
        try
        {
            var encoder = new ClapAudioEncoder(config);
            encoder.LoadWeights(weights, file);
            return (encoder, file);
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
    }

    private static (AudioProjector, string) LoadOfficialProjector(string file, Action<string> note)
    {
        using var src = TensorFiles.Open(file);
        var config = AudioProjectorConfig.FromTensorShapes(src);
        var projector = LoadProjectorWeights(config, src, file);
        note($"{file}: audio projector (official Adapter), {config.AudioTokenCount} tokens × {config.ContextDim}, {config.TransformerLayerCount} blocks, residual_mode {config.ResidualMode} (only the last block matters), heads {config.H} assumed");
        return (projector, file);
    }

    private static (AudioProjector, string) LoadProjectorFolder(string dir, Action<string> note)
    {
        var file = StableDiffusionComponents.FindWeights(dir);
        using var src = TensorFiles.Open(file);
        var cfgPath = Path.Combine(dir, ConfigFile);
        AudioProjectorConfig config;
        if (File.Exists(cfgPath)) config = AudioProjectorConfig.FromJson(File.ReadAllText(cfgPath), cfgPath);
        else
        {
            config = AudioProjectorConfig.FromTensorShapes(src);
            note($"{dir}: no {ConfigFile}; projector config inferred from tensor shapes ({config.AudioTokenCount} tokens × {config.ContextDim}, heads {config.H} assumed, residual_mode {config.ResidualMode})");
        }
        return (LoadProjectorWeights(config, src, file), file);
    }

    private static AudioProjector LoadProjectorWeights(AudioProjectorConfig config, ITensorSource src, string file)
    {
        var weights = src.Names.ToDictionary(n => n, n => src.Read(n, ScalarType.Float32));
        try
        {
            var projector = new AudioProjector(config);
            projector.LoadWeights(weights, file);
            foreach (var p in projector.parameters()) p.requires_grad = false;
            return projector;
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
    }

    // ------------------------------------------------------------------------------------------------ writing

    /// <summary>
    /// Writes this model as a bundle folder (see the class summary). <paramref name="dtype"/> converts floating-point
    /// weights (e.g. Float16 halves the size); null keeps float32. Existing files in <paramref name="dir"/> are replaced.
    /// </summary>
    public void SaveBundle(string dir, ScalarType? dtype = null)
    {
        Directory.CreateDirectory(dir);
        var adapterNames = Adapters.Parameters().Keys.ToHashSet(StringComparer.Ordinal);
        SaveComponent(Path.Combine(dir, "unet"), "diffusion_pytorch_model.safetensors",
            Sd.Unet.named_parameters().Where(p => !adapterNames.Contains(p.name)).Select(p => (p.name, (Tensor)p.parameter)), Sd.Unet.Config, dtype);
        SaveComponent(Path.Combine(dir, "vae"), "diffusion_pytorch_model.safetensors",
            Sd.Vae.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), Sd.Vae.Config, dtype);
        SaveComponent(Path.Combine(dir, "text_encoder"), WeightsFile,
            Sd.TextEncoder.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), Sd.TextEncoder.Config, dtype);
        Directory.CreateDirectory(Path.Combine(dir, "scheduler"));
        ConfigJson.Write(Path.Combine(dir, "scheduler", "scheduler_config.json"), Sd.Scheduler);
        SaveAudioParts(dir, dtype);
        WriteModelIndex(dir, Sd.Scheduler.ClassName ?? "PNDMScheduler");
    }

    /// <summary>The bundle's <c>model_index.json</c>: the diffusers components plus the three audio folders.</summary>
    public static void WriteModelIndex(string dir, string schedulerClass = "PNDMScheduler")
    {
        var index = new Dictionary<string, object>
        {
            ["_class_name"] = "SonicDiffusionPipeline",
            ["unet"] = new[] { "diffusers", "UNet2DConditionModel" },
            ["vae"] = new[] { "diffusers", "AutoencoderKL" },
            ["text_encoder"] = new[] { "transformers", "CLIPTextModel" },
            ["scheduler"] = new[] { "diffusers", schedulerClass },
            [AudioEncoderFolder] = new[] { "SonicDiffusion", "ClapAudioEncoder" },
            [AudioProjectorFolder] = new[] { "SonicDiffusion", "AudioProjector" },
            [AdaptersFolder] = new[] { "SonicDiffusion", "GatedAudioAttention" },
        };
        File.WriteAllText(Path.Combine(dir, "model_index.json"), JsonSerializer.Serialize(index, ConfigJson.Options));
    }

    /// <summary>Writes only <c>audio_encoder/</c>, <c>audio_projector/</c> and <c>adapters/</c> into <paramref name="dir"/>.</summary>
    public void SaveAudioParts(string dir, ScalarType? dtype = null)
    {
        var encoderState = AudioEncoder.named_parameters().Select(p => (p.name, (Tensor)p.parameter))
            .Concat(AudioEncoder.named_buffers().Select(b => (b.name, b.buffer)))
            .Where(kv => AudioEncoder.FrontEndLoaded || !ClapAudioEncoder.FrontEndNames.Contains(kv.Item1))
            .Select(kv => (CheckpointConverter.ClapAudioPrefix + kv.Item1, kv.Item2));
        SaveComponent(Path.Combine(dir, AudioEncoderFolder), WeightsFile, encoderState, AudioEncoder.Config, dtype);
        SaveComponent(Path.Combine(dir, AudioProjectorFolder), WeightsFile,
            Projector.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), Projector.Config, dtype);
        var adapterConfig = Adapters.Config with { Sites = Adapters.Sites.Select(s => s.Path).ToArray(), ContextDim = (int)Adapters.ContextDim };
        SaveComponent(Path.Combine(dir, AdaptersFolder), WeightsFile, Adapters.Parameters().Select(kv => (kv.Key, kv.Value)), adapterConfig, dtype);
    }

    /// <summary>
    /// Exports the adapters and projector in the released formats: <c>&lt;name&gt;.pt</c> (gate dict) and
    /// <c>audio_projector_&lt;name&gt;.pth</c> (<c>Adapter.state_dict()</c>), both <c>torch.save</c> zips, float32.
    /// Returns the two paths.
    /// </summary>
    public (string GateDict, string Projector) ExportOfficial(string dir, string name)
    {
        Directory.CreateDirectory(dir);
        var gate = Path.Combine(dir, name + ".pt");
        var proj = Path.Combine(dir, $"audio_projector_{name}.pth");
        Adapters.Save(gate);
        var state = Projector.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().cpu().contiguous().clone());
        try { TorchZipWriter.Write(proj, state); }
        finally { foreach (var t in state.Values) t.Dispose(); }
        return (gate, proj);
    }

    private static void SaveComponent<TConfig>(string dir, string file, IEnumerable<(string Name, Tensor Tensor)> tensors, TConfig config, ScalarType? dtype)
    {
        Directory.CreateDirectory(dir);
        var dict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, t) in tensors)
            {
                using var scope = NewDisposeScope();
                var c = t.detach().cpu();
                if (dtype is { } dt && c.is_floating_point()) c = c.to_type(dt);
                dict[name] = c.contiguous().clone().DetachFromDisposeScope();
            }
            SafetensorsWriter.Write(Path.Combine(dir, file), dict);
        }
        finally
        {
            foreach (var t in dict.Values) t.Dispose();
        }
        ConfigJson.Write(Path.Combine(dir, ConfigFile), config);
    }

    public void Dispose()
    {
        Sd.Dispose();
        AudioEncoder.Dispose();
        Projector.Dispose();
        FrontEnd.Dispose();
    }
}
