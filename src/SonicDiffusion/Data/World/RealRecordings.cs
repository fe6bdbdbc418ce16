using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;

namespace SonicDiffusion.Data.World;

/// <summary>One real recording of a world class: its file, class, split and provenance columns (package, licence...).</summary>
public sealed record RealRecording(string AudioPath, WorldClass Class, string Split, IReadOnlyDictionary<string, JsonNode?> Provenance);

/// <summary>
/// Reads an audio-only manifest of real recordings (JSONL: audio, label, split and any provenance columns, as
/// scripts/real-sounds.sh writes it). Labels may be written with spaces or underscores, in any case.
/// </summary>
public static class RealRecordings
{
    public static IReadOnlyList<RealRecording> Read(string manifestPath)
    {
        string full = Path.GetFullPath(manifestPath);
        if (!File.Exists(full)) throw new SonicException($"{full}: real-recordings manifest not found");
        string dir = Path.GetDirectoryName(full)!;
        var result = new List<RealRecording>();
        int line = 0;
        foreach (var text in File.ReadLines(full))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            JsonObject row;
            try { row = JsonNode.Parse(text) as JsonObject ?? throw new SonicException($"{full}:{line}: not a JSON object"); }
            catch (JsonException e) { throw new SonicException($"{full}:{line}: not valid JSON ({e.Message.Split('.')[0]})"); }
            string Field(string key) => row[key] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0
                ? s : throw new SonicException($"{full}:{line}: missing '{key}'");
            string label = Field("label");
            var info = WorldClasses.FromLabel(NormalizeLabel(label)) ?? throw new SonicException(
                $"{full}:{line}: label '{label}' is not a world class ({string.Join(", ", WorldClasses.All.Select(c => c.Label))})");
            string split = Field("split");
            if (split is not ("train" or "val")) throw new SonicException($"{full}:{line}: split '{split}' must be train or val");
            string audio = Field("audio");
            string path = Path.IsPathRooted(audio) ? audio : Path.GetFullPath(Path.Combine(dir, audio));
            var provenance = row.Where(kv => kv.Key is not ("audio" or "label" or "split" or "image" or "caption"))
                .ToDictionary(kv => kv.Key, kv => kv.Value?.DeepClone());
            result.Add(new RealRecording(path, info.Class, split, provenance));
        }
        return result;
    }

    /// <summary>"Wind Noise", "wind-noise" and "wind_noise" all become "wind_noise".</summary>
    public static string NormalizeLabel(string label) =>
        string.Join('_', label.Trim().ToLowerInvariant().Split([' ', '_', '-'], StringSplitOptions.RemoveEmptyEntries));
}
