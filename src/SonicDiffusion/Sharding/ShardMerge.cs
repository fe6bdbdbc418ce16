using System.Globalization;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Evaluation;
using SonicDiffusion.Training;

namespace SonicDiffusion.Sharding;

/// <summary>The figures of all shards together: mean of every item score, the Fréchet distances from the merged feature statistics, the Spearman correlations.</summary>
public sealed record MergedResult
{
    public const string FileName = "merged.json";

    public required string Protocol { get; init; }
    public required JsonObject Settings { get; init; }
    public required int Shards { get; init; }
    public required IReadOnlyList<ItemResult> Items { get; init; }
    /// <summary>Score → (mean over the items that have it, number of those items).</summary>
    public required IReadOnlyDictionary<string, (double Mean, int Count)> Scores { get; init; }
    public required IReadOnlyDictionary<string, double?> Fid { get; init; }
    public required IReadOnlyDictionary<string, double?> Correlations { get; init; }
    public required IReadOnlyDictionary<string, long> FeatureCounts { get; init; }
    public required IReadOnlyList<string> Sources { get; init; }

    public JsonObject ToJson() => new()
    {
        ["format"] = "sonicdiffusion-merged-result/1",
        ["protocol"] = Protocol,
        ["shards"] = Shards,
        ["items"] = Items.Count,
        ["scores"] = new JsonObject(Scores.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonObject { ["mean"] = kv.Value.Mean, ["count"] = kv.Value.Count }))),
        ["fid"] = new JsonObject(Fid.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        ["correlations"] = new JsonObject(Correlations.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        ["feature_counts"] = new JsonObject(FeatureCounts.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
        ["settings"] = Settings.DeepClone(),
        ["sources"] = new JsonArray(Sources.Select(s => (JsonNode)s).ToArray()),
    };

    public string Write(string dir)
    {
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, FileName);
        TrainingCheckpoint.WriteDurable(path, System.Text.Encoding.UTF8.GetBytes(ToJson().ToJsonString(ConfigJson.Options)));
        return path;
    }
}

/// <summary>
/// <c>sonic eval merge</c>: combines the <see cref="ShardResult"/> files of one sharded run. Every shard of the run must
/// be there exactly once, all with the same protocol, settings and shard count; item scores are concatenated in item
/// order and feature statistics added, so the merged figures equal those of one unsharded run up to float64 round-off.
/// </summary>
public static class ShardMerge
{
    /// <summary>The shard result files in <paramref name="paths"/> (folders are searched for shard-*-of-*.json; files are taken as given).</summary>
    public static List<string> Find(IEnumerable<string> paths)
    {
        var files = new List<string>();
        foreach (var p in paths)
        {
            if (File.Exists(p)) files.Add(Path.GetFullPath(p));
            else if (Directory.Exists(p))
            {
                var found = Directory.GetFiles(p, "shard-*-of-*.json").Order(StringComparer.Ordinal).ToList();
                if (found.Count == 0) throw new SonicException($"{p}: no shard results (shard-I-of-N.json) in this folder");
                files.AddRange(found.Select(Path.GetFullPath));
            }
            else throw new SonicException($"{p}: no such file or folder");
        }
        if (files.Count == 0) throw new SonicException("eval merge: no shard results given");
        return files.Distinct(StringComparer.Ordinal).ToList();
    }

    public static MergedResult Merge(IEnumerable<string> paths)
    {
        var files = Find(paths);
        var shards = files.Select(f => (File: f, Result: ShardResult.Read(f))).ToList();
        var (firstFile, first) = shards[0];
        foreach (var (file, r) in shards.Skip(1))
        {
            if (r.Protocol != first.Protocol)
                throw new SonicException($"eval merge: {Path.GetFileName(file)} is protocol '{r.Protocol}', {Path.GetFileName(firstFile)} is '{first.Protocol}'");
            if (r.Shards != first.Shards)
                throw new SonicException($"eval merge: {file} is one of {r.Shards} shards, {firstFile} one of {first.Shards}");
            if (FirstDifference(first.Settings, r.Settings, "") is { } diff)
                throw new SonicException($"eval merge: {file} and {firstFile} come from different runs: {diff}");
            if (r.TotalItems != first.TotalItems)
                throw new SonicException($"eval merge: {file} has {r.TotalItems} items in all, {firstFile} {first.TotalItems}");
        }
        var byIndex = new Dictionary<int, string>();
        foreach (var (file, r) in shards)
        {
            if (byIndex.TryGetValue(r.Shard, out var other))
                throw new SonicException($"eval merge: shard {r.Shard} of {r.Shards} is given twice ({other} and {file})");
            byIndex[r.Shard] = file;
        }
        var missing = Enumerable.Range(0, first.Shards).Where(i => !byIndex.ContainsKey(i)).ToList();
        if (missing.Count > 0)
            throw new SonicException($"eval merge: missing shard{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)} of {first.Shards} " +
                $"(no {string.Join(", ", missing.Select(i => ShardResult.FileName(new ShardSpec(i, first.Shards, ""))))}; run those shards, or give their folders)");

        var items = shards.SelectMany(s => s.Result.Items.Select(i => (Item: i, s.File, s.Result))).OrderBy(x => x.Item.Index).ToList();
        foreach (var (item, file, r) in items)
            if (item.Index < 0 || item.Index >= first.TotalItems || item.Index % r.Shards != r.Shard)
                throw new SonicException($"eval merge: {file} holds item {item.Index}, which is not one of shard {r.Shard} of {r.Shards}");
        var seen = items.Select(x => x.Item.Index).ToHashSet();
        if (seen.Count != items.Count) throw new SonicException($"eval merge: an item appears in more than one shard result");
        var absent = Enumerable.Range(0, first.TotalItems).Where(i => !seen.Contains(i)).ToList();
        if (absent.Count > 0)
            throw new SonicException($"eval merge: {absent.Count} of {first.TotalItems} items have no result (first: item {absent[0]}, shard {absent[0] % first.Shards}); that shard did not finish");

        var sets = new Dictionary<string, FeatureStatistics>(StringComparer.Ordinal);
        foreach (var (file, r) in shards)
            foreach (var (name, s) in r.FeatureSets)
            {
                if (!sets.TryGetValue(name, out var acc)) sets[name] = acc = new FeatureStatistics(s.Dim);
                if (acc.Dim != s.Dim) throw new SonicException($"eval merge: {file}'s '{name}' features are {s.Dim}-d, other shards' {acc.Dim}-d");
                acc.Add(s);
            }

        var ordered = items.Select(x => x.Item).ToList();
        var scoreNames = ordered.SelectMany(i => i.Scores.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var scores = scoreNames.ToDictionary(n => n, n =>
        {
            var v = ordered.Where(i => i.Scores.ContainsKey(n)).Select(i => i.Scores[n]).ToList();
            return (v.Average(), v.Count);
        }, StringComparer.Ordinal);
        var fid = first.Fid.ToDictionary(kv => kv.Key, kv =>
            sets.TryGetValue(kv.Value.A, out var a) && sets.TryGetValue(kv.Value.B, out var b) && a.Count >= 2 && b.Count >= 2
                ? FeatureStatistics.Frechet(a, b, kv.Value.A, kv.Value.B) : (double?)null, StringComparer.Ordinal);
        var correlations = first.Correlations.ToDictionary(kv => kv.Key, kv =>
        {
            var both = ordered.Where(i => i.Scores.ContainsKey(kv.Value.X) && i.Scores.ContainsKey(kv.Value.Y)).ToList();
            double rho = both.Count < 2 ? double.NaN : Spearman.Rho(both.Select(i => i.Scores[kv.Value.X]).ToList(), both.Select(i => i.Scores[kv.Value.Y]).ToList());
            return double.IsFinite(rho) ? rho : (double?)null;
        }, StringComparer.Ordinal);
        return new MergedResult
        {
            Protocol = first.Protocol, Settings = first.Settings, Shards = first.Shards, Items = ordered, Scores = scores, Fid = fid, Correlations = correlations,
            FeatureCounts = sets.ToDictionary(kv => kv.Key, kv => kv.Value.Count, StringComparer.Ordinal),
            Sources = Enumerable.Range(0, first.Shards).Select(i => byIndex[i]).ToList(),
        };
    }

    /// <summary>The first key where two settings objects differ, as "key: A vs B", or null.</summary>
    public static string? FirstDifference(JsonNode? a, JsonNode? b, string path)
    {
        if (a is JsonObject oa && b is JsonObject ob)
        {
            foreach (var key in oa.Select(kv => kv.Key).Union(ob.Select(kv => kv.Key)).Order(StringComparer.Ordinal))
                if (FirstDifference(oa[key], ob[key], path.Length == 0 ? key : path + "." + key) is { } d) return d;
            return null;
        }
        string sa = a?.ToJsonString() ?? "(absent)", sb = b?.ToJsonString() ?? "(absent)";
        return sa == sb ? null : string.Create(CultureInfo.InvariantCulture, $"{path}: {sb} vs {sa}");
    }
}
