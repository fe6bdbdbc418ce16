using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// Writes what stage 1 / stage 2 trained in the two formats the loaders read: our bundle parts
/// (<c>audio_projector/</c>, <c>adapters/</c>, or a complete <see cref="SonicDiffusionModel"/> bundle folder whose SD and
/// CLAP parts are copied from the source model) and the released official files (<c>&lt;name&gt;.pt</c> gate dict,
/// <c>audio_projector_&lt;name&gt;.pth</c>, both torch.save zips). Weights are written as float32.
/// </summary>
public static class SonicTrainingExport
{
    /// <summary>Writes <c>config.json</c> (AudioProjectorConfig) + <c>model.safetensors</c> (Adapter.state_dict() names) into <paramref name="dir"/>.</summary>
    public static void WriteProjectorFolder(AudioProjector projector, string dir) =>
        ModelExport.WriteFolderAtomically(dir, tmp =>
        {
            WriteTensors(Path.Combine(tmp, SonicDiffusionModel.WeightsFile), projector.named_parameters().Select(p => (p.name, (Tensor)p.parameter)));
            ConfigJson.Write(Path.Combine(tmp, SonicDiffusionModel.ConfigFile), projector.Config);
        });

    /// <summary>Writes <c>config.json</c> (AudioAdapterConfig with the explicit sites) + <c>model.safetensors</c> (the gate dict) into <paramref name="dir"/>.</summary>
    public static void WriteAdaptersFolder(AudioAdapterSet adapters, string dir) =>
        ModelExport.WriteFolderAtomically(dir, tmp =>
        {
            WriteTensors(Path.Combine(tmp, SonicDiffusionModel.WeightsFile), adapters.Parameters().Select(kv => (kv.Key, kv.Value)));
            ConfigJson.Write(Path.Combine(tmp, SonicDiffusionModel.ConfigFile),
                adapters.Config with { Sites = adapters.Sites.Select(s => s.Path).ToArray(), ContextDim = (int)adapters.ContextDim });
        });

    /// <summary>
    /// A complete bundle in <paramref name="dir"/>: unet/, vae/, text_encoder/, scheduler/ and tokenizer/ (when present)
    /// copied from <paramref name="sourceModel"/> (a diffusers SD folder or a bundle), audio_encoder/ copied from
    /// <paramref name="audioEncoderDir"/>, and the trained audio_projector/ and adapters/.
    /// </summary>
    public static void WriteBundle(string dir, string sourceModel, string audioEncoderDir, AudioProjector projector, AudioAdapterSet adapters)
    {
        if (!File.Exists(Path.Combine(sourceModel, "unet", "config.json")))
            throw new SonicException($"{sourceModel}: not a diffusers model folder (unet/config.json missing); the bundle copies its SD parts");
        ModelExport.WriteFolderAtomically(dir, tmp =>
        {
            foreach (var part in new[] { "unet", "vae", "text_encoder", "scheduler", "tokenizer" })
                if (Directory.Exists(Path.Combine(sourceModel, part))) CopyFolder(Path.Combine(sourceModel, part), Path.Combine(tmp, part));
            CopyFolder(audioEncoderDir, Path.Combine(tmp, SonicDiffusionModel.AudioEncoderFolder));
            WriteProjectorFolder(projector, Path.Combine(tmp, SonicDiffusionModel.AudioProjectorFolder));
            WriteAdaptersFolder(adapters, Path.Combine(tmp, SonicDiffusionModel.AdaptersFolder));
            string scheduler = "PNDMScheduler";
            var schedPath = Path.Combine(tmp, "scheduler", "scheduler_config.json");
            if (File.Exists(schedPath)) scheduler = Schedulers.SchedulerConfig.Load(schedPath).ClassName ?? scheduler;
            SonicDiffusionModel.WriteModelIndex(tmp, scheduler);
        });
    }

    /// <summary>The official files in <paramref name="dir"/>: <c>&lt;name&gt;.pt</c> (when <paramref name="adapters"/> is given) and <c>audio_projector_&lt;name&gt;.pth</c>.</summary>
    public static (string? GateDict, string Projector) WriteOfficial(string dir, string name, AudioProjector projector, AudioAdapterSet? adapters)
    {
        Directory.CreateDirectory(dir);
        string? gate = null;
        if (adapters != null)
        {
            gate = Path.Combine(dir, name + ".pt");
            adapters.Save(gate, ScalarType.Float32);
        }
        string proj = Path.Combine(dir, $"audio_projector_{name}.pth");
        var state = projector.named_parameters().ToDictionary(p => p.name, p => p.parameter.detach().cpu().to_type(ScalarType.Float32).contiguous().clone());
        try { TorchZipWriter.Write(proj, state); }
        finally { foreach (var t in state.Values) t.Dispose(); }
        return (gate, proj);
    }

    /// <summary>Loads a projector from a folder (config.json + weights, e.g. a stage-1 export) or an official .pth/.pt (config inferred, 8 heads).</summary>
    public static AudioProjector LoadProjector(string path)
    {
        string file = Directory.Exists(path) ? StableDiffusionComponents.FindWeights(path) : path;
        if (!File.Exists(file)) throw new SonicException($"{path}: projector not found");
        using var src = TensorFiles.Open(file);
        string cfg = Directory.Exists(path) ? Path.Combine(path, SonicDiffusionModel.ConfigFile) : "";
        var config = File.Exists(cfg) ? AudioProjectorConfig.FromJson(File.ReadAllText(cfg), cfg) : AudioProjectorConfig.FromTensorShapes(src);
        var weights = src.Names.ToDictionary(n => n, n => src.Read(n, ScalarType.Float32));
        var projector = new AudioProjector(config);
        try { projector.LoadWeights(weights, file); }
        catch { projector.Dispose(); throw; }
        finally { foreach (var t in weights.Values) t.Dispose(); }
        return projector;
    }

    private static void WriteTensors(string path, IEnumerable<(string Name, Tensor Tensor)> tensors)
    {
        var dict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var (n, t) in tensors) dict[n] = t.detach().cpu().to_type(ScalarType.Float32).contiguous().clone();
            SafetensorsWriter.Write(path, dict);
        }
        finally { foreach (var t in dict.Values) t.Dispose(); }
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var f in Directory.GetFiles(from)) File.Copy(f, Path.Combine(to, Path.GetFileName(f)), true);
        foreach (var d in Directory.GetDirectories(from)) CopyFolder(d, Path.Combine(to, Path.GetFileName(d)));
    }
}
