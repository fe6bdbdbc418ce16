using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;

namespace SonicDiffusion.IO;

/// <summary>What a set of tensor names looks like.</summary>
public enum CheckpointKind
{
    Unknown,
    /// <summary>A Stable Diffusion single file (<c>model.diffusion_model.</c> with <c>first_stage_model.</c> and/or <c>cond_stage_model.</c>).</summary>
    StableDiffusion,
    UNet,
    Vae,
    /// <summary>A CLIP text encoder.</summary>
    TextEncoder,
    /// <summary>The released SonicDiffusion gate dict: every key belongs to an audio adapter (<c>attn_adapter</c>, <c>norm_adapter</c>, <c>gate_adapter</c>).</summary>
    SonicGates,
    /// <summary>The SonicDiffusion audio projector (<c>audio_emb_projection.</c>, <c>cross_attention.</c>, <c>to_out_adapter.</c>).</summary>
    SonicProjector,
    /// <summary>Microsoft CLAP 2022 (<c>audio_encoder.</c>, possibly <c>caption_encoder.</c>).</summary>
    Clap2022,
    /// <summary>A whole CLIP model, both towers (HF <c>text_model.</c> + <c>vision_model.</c>, or openai/CLIP's <c>visual.proj</c>).</summary>
    Clip,
    /// <summary>Wav2CLIP's released checkpoint (<c>audio_encoder.</c> + <c>audio_transform.</c>).</summary>
    Wav2Clip,
    /// <summary>The InceptionV3 of FID (torchvision <c>Inception3</c> names: <c>Conv2d_1a_3x3.</c> … <c>Mixed_7c.</c>).</summary>
    FidInception,
}

/// <summary>One tensor as stored.</summary>
public sealed record TensorSummary(string Name, string DType, long[] Shape)
{
    public long NumElements => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>Tensor count, element count and stored bytes for one dtype.</summary>
public sealed record DTypeTotal(string DType, int Tensors, long Elements, long Bytes);

/// <summary>
/// One weights file. <see cref="Naming"/> is the key convention: <c>diffusers</c>, <c>compvis</c> (LDM names, no
/// prefix), <c>compvis-single-file</c> (LDM names under the SD single-file prefixes), <c>hf-clip-text</c>,
/// <c>sonicdiffusion</c>, <c>clap-2022</c>, or null when unknown. <see cref="AudioAdapterTensors"/> counts UNet keys of
/// the SonicDiffusion audio adapters (<c>_adapter</c> inside a UNet or SD file).
/// </summary>
public sealed record ComponentInspection(
    string? Component,
    string File,
    TensorFileFormat Format,
    string? ClassName,
    CheckpointKind Kind,
    string? Naming,
    int AudioAdapterTensors,
    string? Wrapper,
    IReadOnlyList<TensorSummary> Tensors,
    IReadOnlyList<DTypeTotal> Totals,
    long TotalElements,
    long TotalBytes,
    IReadOnlyList<string> SkippedEntries,
    IReadOnlyDictionary<string, string> Metadata);

/// <summary>The result of inspecting a file or a folder. <see cref="PipelineClass"/> comes from model_index.json.</summary>
public sealed record InspectionReport(string Path, bool IsFolder, string? PipelineClass, IReadOnlyList<ComponentInspection> Components, IReadOnlyList<string> Notes);

/// <summary>
/// Library side of <c>sonic inspect FILE|DIR</c>: lists tensors (name, dtype, shape), totals per dtype, and guesses the
/// component kind from the key names. A folder is either a diffusers pipeline (model_index.json naming component
/// folders) or a single component folder (config.json next to its weights). In a component folder the weights file is
/// the first found of diffusion_pytorch_model.safetensors, model.safetensors, other *.safetensors (sorted),
/// diffusion_pytorch_model.bin, pytorch_model.bin, other *.bin/*.pt/*.pth/*.ckpt (sorted). Sharded weights are not
/// merged: the first shard is listed and a note says so.
/// </summary>
public static class CheckpointInspector
{
    private static readonly string[] PreferredWeights =
        ["diffusion_pytorch_model.safetensors", "model.safetensors", "*.safetensors", "diffusion_pytorch_model.bin", "pytorch_model.bin", "*.bin", "*.pt", "*.pth", "*.ckpt"];

    public static InspectionReport Inspect(string path)
    {
        if (File.Exists(path)) return new InspectionReport(path, false, null, [InspectFile(path, null, null)], []);
        if (!Directory.Exists(path)) throw new SonicException($"{path}: no such file or folder");

        var notes = new List<string>();
        var components = new List<ComponentInspection>();
        string index = System.IO.Path.Combine(path, "model_index.json");
        if (File.Exists(index))
        {
            var root = ReadJsonObject(index);
            string? pipeline = root["_class_name"]?.GetValueKind() == JsonValueKind.String ? root["_class_name"]!.GetValue<string>() : null;
            foreach (var (name, value) in root)
            {
                if (name.StartsWith('_')) continue;
                if (value is not JsonArray { Count: 2 } lib || lib[0] is null) continue;
                string folder = System.IO.Path.Combine(path, name);
                if (!Directory.Exists(folder)) { notes.Add($"{name}: listed in model_index.json but the folder is missing"); continue; }
                var weights = FindWeights(folder, name, notes);
                if (weights == null) { notes.Add($"{name}: no weights ({lib[1]?.ToString() ?? "?"})"); continue; }
                components.Add(InspectFile(weights, name, ReadClassName(folder)));
            }
            return new InspectionReport(path, true, pipeline, components, notes);
        }
        var single = FindWeights(path, System.IO.Path.GetFileName(System.IO.Path.TrimEndingDirectorySeparator(path)), notes);
        if (single == null)
            throw new SonicException($"{path}: a folder with neither model_index.json (diffusers pipeline) nor a weights file (*.safetensors, *.bin, *.pt, *.pth, *.ckpt)");
        components.Add(InspectFile(single, null, ReadClassName(path)));
        return new InspectionReport(path, true, null, components, notes);
    }

    /// <summary>Inspects one weights file (any format <see cref="TensorFiles"/> reads).</summary>
    public static ComponentInspection InspectFile(string file, string? component = null, string? className = null)
    {
        var format = TensorFiles.Detect(file);
        using var src = TensorFiles.Open(file);
        var tensors = src.Names.Select(n => { var i = src.Info(n); return new TensorSummary(n, i.DType, i.Shape); })
            .OrderBy(t => t.Name, StringComparer.Ordinal).ToList();
        var totals = tensors.GroupBy(t => t.DType)
            .Select(g => new DTypeTotal(g.Key, g.Count(), g.Sum(t => t.NumElements), g.Sum(t => t.NumElements * SafetensorsFile.ElementSize(t.DType))))
            .OrderByDescending(t => t.Elements).ToList();
        var (kind, naming) = DetectKind(tensors.Select(t => t.Name).ToList());
        int adapters = kind is CheckpointKind.UNet or CheckpointKind.StableDiffusion ? tensors.Count(t => t.Name.Contains("_adapter", StringComparison.Ordinal)) : 0;
        var torch = src as TorchCheckpointFile;
        var meta = (src as SafetensorsFile)?.Metadata ?? new Dictionary<string, string>();
        return new ComponentInspection(component, file, format, className, kind, naming, adapters, torch?.Wrapper, tensors, totals,
            totals.Sum(t => t.Elements), totals.Sum(t => t.Bytes), torch?.SkippedEntries ?? [], meta);
    }

    /// <summary>Guesses the component kind and key naming from tensor names (see <see cref="CheckpointKind"/>).</summary>
    public static (CheckpointKind Kind, string? Naming) DetectKind(IReadOnlyCollection<string> names)
    {
        if (names.Count == 0) return (CheckpointKind.Unknown, null);
        bool Any(string prefix) => names.Any(n => n.StartsWith(prefix, StringComparison.Ordinal));

        bool unet = Any("model.diffusion_model."), vae = Any("first_stage_model."), clip = Any("cond_stage_model.");
        if (unet && (vae || clip)) return (CheckpointKind.StableDiffusion, "compvis-single-file");
        if (unet) return (CheckpointKind.UNet, "compvis-single-file");
        if (vae && !clip) return (CheckpointKind.Vae, "compvis-single-file");
        if (clip && !vae) return (CheckpointKind.TextEncoder, "compvis-single-file");
        if (vae && clip) return (CheckpointKind.StableDiffusion, "compvis-single-file");

        if (Any("audio_encoder.") && Any("audio_transform.")) return (CheckpointKind.Wav2Clip, "wav2clip-checkpoint");
        if (Any("audio_encoder.")) return (CheckpointKind.Clap2022, "clap-2022");
        if (Any("text_model.") && Any("vision_model.")) return (CheckpointKind.Clip, "hf-clip");
        if (names.Contains("visual.proj") && names.Contains("text_projection")) return (CheckpointKind.Clip, "openai-clip");
        if (Any("Conv2d_1a_3x3.") && Any("Mixed_7c.")) return (CheckpointKind.FidInception, "torchvision-inception3");
        if (Any("audio_emb_projection.")) return (CheckpointKind.SonicProjector, "sonicdiffusion");
        if (names.All(n => n.Contains("_adapter", StringComparison.Ordinal)))
            return (CheckpointKind.SonicGates, Any("down_blocks.") || Any("mid_block.") || Any("up_blocks.") ? "diffusers" : "compvis");

        if (Any("down_blocks.") && Any("up_blocks.") && !Any("encoder.") && !Any("decoder.")) return (CheckpointKind.UNet, "diffusers");
        if (Any("input_blocks.") && Any("output_blocks.")) return (CheckpointKind.UNet, "compvis");
        if (Any("encoder.") && Any("decoder."))
            return (CheckpointKind.Vae, Any("encoder.down_blocks.") || Any("decoder.up_blocks.") ? "diffusers" : "compvis");
        if (Any("text_model.")) return (CheckpointKind.TextEncoder, "hf-clip-text");
        return (CheckpointKind.Unknown, null);
    }

    private static string? FindWeights(string folder, string component, List<string> notes)
    {
        foreach (var pattern in PreferredWeights)
        {
            var files = Directory.GetFiles(folder, pattern).Order(StringComparer.Ordinal).ToList();
            if (files.Count == 0) continue;
            var first = files[0];
            if (System.IO.Path.GetFileName(first).Contains("-00001-of-", StringComparison.Ordinal))
                notes.Add($"{component}: sharded weights; only {System.IO.Path.GetFileName(first)} is listed");
            return first;
        }
        return null;
    }

    private static string? ReadClassName(string folder)
    {
        string config = System.IO.Path.Combine(folder, "config.json");
        if (!File.Exists(config)) return null;
        var root = ReadJsonObject(config);
        return root["_class_name"]?.GetValueKind() == JsonValueKind.String ? root["_class_name"]!.GetValue<string>()
            : root["architectures"] is JsonArray { Count: > 0 } a ? a[0]?.ToString() : null;
    }

    private static JsonObject ReadJsonObject(string file)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(file)) as JsonObject
                ?? throw new SonicException($"{file}: not a JSON object");
        }
        catch (JsonException e) { throw new SonicException($"{file}: invalid JSON ({e.Message.Split('\n')[0]})"); }
    }
}
