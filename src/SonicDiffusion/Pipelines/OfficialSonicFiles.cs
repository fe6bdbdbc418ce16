using SonicDiffusion.Core;
using SonicDiffusion.IO;

namespace SonicDiffusion.Pipelines;

/// <summary>
/// The released SonicDiffusion files a user points at with <c>--sonic DIR|file,file,...</c>: the gate dict
/// (<c>landscape.pt</c> / <c>greatest_hits.pt</c>), the audio projector (<c>audio_projector_*.pth</c>) and the CLAP
/// checkpoint (<c>CLAP_weights_2022.pth</c>). Each file is recognised by its tensor names, not its file name; any of the
/// three may be absent (a model bundle then supplies it).
/// </summary>
public sealed record OfficialSonicFiles(string? GateDict, string? Projector, string? Clap)
{
    private static readonly string[] TensorExtensions = [".pt", ".pth", ".ckpt", ".bin", ".safetensors"];

    public bool IsEmpty => GateDict is null && Projector is null && Clap is null;

    public IEnumerable<string> Files => new[] { GateDict, Projector, Clap }.OfType<string>();

    /// <summary>Resolves <paramref name="spec"/>: a folder (its tensor files are classified) or a comma-separated list of files.</summary>
    public static OfficialSonicFiles Resolve(string spec, string option = "--sonic")
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new SonicException($"{option}: empty; give a folder or comma-separated files");
        bool isDir = Directory.Exists(spec);
        IEnumerable<string> candidates = isDir
            ? Directory.GetFiles(spec).Where(f => TensorExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal)
            : spec.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var found = new Dictionary<CheckpointKind, List<string>>();
        foreach (var file in candidates)
        {
            if (!isDir && !File.Exists(file)) throw new SonicException($"{option}: {file}: file not found");
            CheckpointKind kind;
            using (var src = TensorFiles.Open(file)) kind = CheckpointInspector.DetectKind(src.Names.ToList()).Kind;
            if (kind is not (CheckpointKind.SonicGates or CheckpointKind.SonicProjector or CheckpointKind.Clap2022))
            {
                if (isDir) continue;
                throw new SonicException($"{option}: {file}: not a SonicDiffusion gate dict, audio projector or CLAP checkpoint (judged by its tensor names)");
            }
            if (!found.TryGetValue(kind, out var list)) found[kind] = list = new List<string>();
            list.Add(file);
        }
        foreach (var (kind, list) in found)
            if (list.Count > 1)
                throw new SonicException($"{option}: {spec} holds {list.Count} {Describe(kind)}s ({string.Join(", ", list.Select(Path.GetFileName))}); name the files, e.g. --sonic {string.Join(",", list.Take(1))},...");
        string? One(CheckpointKind k) => found.TryGetValue(k, out var l) ? l[0] : null;
        var result = new OfficialSonicFiles(One(CheckpointKind.SonicGates), One(CheckpointKind.SonicProjector), One(CheckpointKind.Clap2022));
        if (result.IsEmpty) throw new SonicException($"{option}: {spec}: no SonicDiffusion gate dict, audio projector or CLAP checkpoint found");
        return result;
    }

    public static string Describe(CheckpointKind kind) => kind switch
    {
        CheckpointKind.SonicGates => "gate dict",
        CheckpointKind.SonicProjector => "audio projector",
        CheckpointKind.Clap2022 => "CLAP checkpoint",
        _ => "unknown file",
    };
}
