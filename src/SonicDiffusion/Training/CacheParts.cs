using System.Globalization;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Sharding;

namespace SonicDiffusion.Training;

/// <summary>
/// Shards of a preprocessing cache (<c>sonic data cache --shard I/N</c>): shard I builds an ordinary cache file of the
/// rows k with k mod N = I, whose metadata names the whole cache's key (<c>part_of</c>) and the shard (<c>shard</c> =
/// "I/N"). When the whole cache is asked for and its file is missing, a complete set of parts (every shard of one N) is
/// assembled into it instead of encoding again; an incomplete set is reported and the whole cache is built.
/// </summary>
public static class CacheParts
{
    public const string PartOfKey = "part_of";
    public const string ShardKey = "shard";

    /// <summary>The metadata a part carries (none when <paramref name="shard"/> is null).</summary>
    public static IEnumerable<KeyValuePair<string, string>> Metadata(string wholeKey, ShardSpec? shard) => shard is null ? [] :
    [
        new(PartOfKey, wholeKey),
        new(ShardKey, string.Create(CultureInfo.InvariantCulture, $"{shard.Index}/{shard.Count}")),
    ];

    /// <summary>One part file: its path, its own key and its shard.</summary>
    public sealed record Part(string Path, string Key, int Index, int Count);

    /// <summary>
    /// The parts of the cache <paramref name="wholeKey"/> among <paramref name="cacheDir"/>'s files matching
    /// <paramref name="pattern"/>, ordered by shard, when every shard of one count is there; else null (and the shards
    /// that are missing are logged).
    /// </summary>
    public static IReadOnlyList<Part>? FindComplete(string cacheDir, string pattern, string wholeKey, string what, Action<string>? log)
    {
        if (!Directory.Exists(cacheDir)) return null;
        var found = new List<Part>();
        foreach (var file in Directory.GetFiles(cacheDir, pattern).Order(StringComparer.Ordinal))
        {
            try
            {
                using var f = SafetensorsFile.Open(file);
                if (!f.Metadata.TryGetValue(PartOfKey, out var of) || of != wholeKey || !f.Metadata.TryGetValue("key", out var key)) continue;
                var s = ShardSpec.Parse(f.Metadata.GetValueOrDefault(ShardKey, ""), file);
                found.Add(new Part(file, key, s.Index, s.Count));
            }
            catch (SonicException e) { log?.Invoke($"{what}: ignoring {file}: {e.Message}"); }
        }
        if (found.Count == 0) return null;
        foreach (var group in found.GroupBy(p => p.Count).OrderByDescending(g => g.Key))
        {
            var byIndex = group.GroupBy(p => p.Index).ToDictionary(g => g.Key, g => g.First());
            if (byIndex.Count == group.Key) return Enumerable.Range(0, group.Key).Select(i => byIndex[i]).ToList();
            var missing = Enumerable.Range(0, group.Key).Where(i => !byIndex.ContainsKey(i));
            log?.Invoke($"{what}: found shard(s) {string.Join(", ", byIndex.Keys.Order())} of {group.Key} but not {string.Join(", ", missing)} (run `sonic data cache --shard I/{group.Key}` for them); building the whole cache here");
        }
        return null;
    }
}
