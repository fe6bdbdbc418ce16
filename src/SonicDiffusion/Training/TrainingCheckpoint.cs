using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// The checkpoint folders of a run: <c>checkpoints/step-NNNNNNNNN/</c>, each holding safetensors files and a
/// state.json. A folder is written under a temporary name and renamed into place only when complete, so a folder
/// with a final name is always whole; temporary leftovers of a killed run are removed on the next start.
/// </summary>
public static class TrainingCheckpoint
{
    public const string StateFile = "state.json";
    private const string Prefix = "step-";
    private const string TempPrefix = ".tmp-";

    public static string FolderName(long step) => Prefix + step.ToString("D9", CultureInfo.InvariantCulture);

    /// <summary>Complete checkpoints in <paramref name="checkpointsDir"/>, oldest first.</summary>
    public static IReadOnlyList<(long Step, string Path)> List(string checkpointsDir)
    {
        if (!Directory.Exists(checkpointsDir)) return [];
        var list = new List<(long, string)>();
        foreach (var d in Directory.GetDirectories(checkpointsDir))
        {
            var name = Path.GetFileName(d);
            if (!name.StartsWith(Prefix, StringComparison.Ordinal)) continue;
            if (!long.TryParse(name.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out long step)) continue;
            if (!File.Exists(Path.Combine(d, StateFile))) continue;
            list.Add((step, d));
        }
        return list.OrderBy(x => x.Item1).ToList();
    }

    public static (long Step, string Path)? Latest(string checkpointsDir) =>
        List(checkpointsDir) is { Count: > 0 } l ? l[^1] : null;

    /// <summary>Deletes temporary folders left by an interrupted write.</summary>
    public static void RemoveIncomplete(string checkpointsDir)
    {
        if (!Directory.Exists(checkpointsDir)) return;
        foreach (var d in Directory.GetDirectories(checkpointsDir))
            if (Path.GetFileName(d).StartsWith(TempPrefix, StringComparison.Ordinal))
                Directory.Delete(d, true);
    }

    /// <summary>Deletes all but the newest <paramref name="keepLast"/> complete checkpoints.</summary>
    public static void Prune(string checkpointsDir, int keepLast)
    {
        var all = List(checkpointsDir);
        for (int i = 0; i < all.Count - keepLast; i++) Directory.Delete(all[i].Path, true);
    }

    /// <summary>
    /// Writes one checkpoint atomically: each entry of <paramref name="files"/> becomes "{key}.safetensors", then
    /// <paramref name="state"/> becomes state.json, then the folder is renamed to its final name. Returns its path.
    /// </summary>
    public static string Write(string checkpointsDir, long step, IReadOnlyDictionary<string, IEnumerable<(string Name, Tensor Tensor)>> files, JsonObject state)
    {
        Directory.CreateDirectory(checkpointsDir);
        string final = Path.Combine(checkpointsDir, FolderName(step));
        string tmp = Path.Combine(checkpointsDir, TempPrefix + FolderName(step) + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(tmp);
        foreach (var (key, tensors) in files)
            WriteSafetensors(Path.Combine(tmp, key + ".safetensors"), tensors);
        WriteDurable(Path.Combine(tmp, StateFile), Encoding.UTF8.GetBytes(state.ToJsonString(ConfigJson.Options)));
        if (Directory.Exists(final))
        {
            string old = Path.Combine(checkpointsDir, TempPrefix + "old-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.Move(final, old);
            Directory.Move(tmp, final);
            Directory.Delete(old, true);
        }
        else Directory.Move(tmp, final);
        return final;
    }

    /// <summary>Reads state.json of a checkpoint folder.</summary>
    public static JsonObject ReadState(string checkpointDir)
    {
        string p = Path.Combine(checkpointDir, StateFile);
        try { return JsonNode.Parse(File.ReadAllText(p))?.AsObject() ?? throw new SonicException($"{p}: empty checkpoint state"); }
        catch (JsonException e) { throw new SonicException($"{p}: invalid checkpoint state ({e.Message.Split('\n')[0]})"); }
    }

    /// <summary>Writes named tensors to a safetensors file with the shared <see cref="SafetensorsWriter"/> (atomic, flushed to disk).</summary>
    internal static void WriteSafetensors(string path, IEnumerable<(string Name, Tensor Tensor)> tensors) =>
        SafetensorsWriter.Write(path, tensors.Select(t =>
            new SafetensorsWriter.Entry(t.Name, SafetensorsFile.FromScalarType(t.Tensor.dtype), t.Tensor.shape, () => t.Tensor, DisposeAfterWrite: false)));

    /// <summary>Writes <paramref name="bytes"/> to a temporary file, flushes it to disk and renames it over <paramref name="path"/>.</summary>
    public static void WriteDurable(string path, ReadOnlySpan<byte> bytes)
    {
        string tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            fs.Write(bytes);
            fs.Flush(true);
        }
        File.Move(tmp, path, true);
    }
}
