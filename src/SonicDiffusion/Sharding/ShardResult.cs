using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Sharding;

/// <summary>One item's per-item scores (e.g. aic 0/1, an IIS cosine) under its global index.</summary>
public sealed record ItemResult(int Index, string Key, IReadOnlyDictionary<string, double> Scores);

/// <summary>
/// What one shard of an evaluation measured, in a form that merges exactly: every item's scores, and for each feature set
/// its <see cref="FeatureStatistics"/>. <see cref="Fid"/> names the Fréchet distances of the protocol (figure → the two
/// feature sets) and <see cref="Correlations"/> its Spearman correlations (figure → two item scores), so
/// <see cref="ShardMerge"/> needs no knowledge of the protocol. <see cref="Settings"/> identify the run (model,
/// data, options); shards whose settings differ are not merged. Written as <c>shard-I-of-N.json</c> plus
/// <c>shard-I-of-N.features.safetensors</c> (float64 sums).
/// </summary>
public sealed record ShardResult
{
    public const string Format = "sonicdiffusion-shard-result/1";

    public required string Protocol { get; init; }
    public required JsonObject Settings { get; init; }
    public required int Shard { get; init; }
    public required int Shards { get; init; }
    public required int TotalItems { get; init; }
    public required IReadOnlyList<ItemResult> Items { get; init; }
    public required IReadOnlyDictionary<string, FeatureStatistics> FeatureSets { get; init; }
    public IReadOnlyDictionary<string, (string A, string B)> Fid { get; init; } = new Dictionary<string, (string, string)>();
    public IReadOnlyDictionary<string, (string X, string Y)> Correlations { get; init; } = new Dictionary<string, (string, string)>();

    public static string FileName(ShardSpec shard) => $"shard-{shard.Tag}.json";
    public static string FeaturesFileName(string jsonFile) => Path.ChangeExtension(jsonFile, ".features.safetensors");

    /// <summary>Writes the two files into <paramref name="dir"/> (each atomically; the JSON last) and returns the JSON's path.</summary>
    public string Write(string dir)
    {
        Directory.CreateDirectory(dir);
        string json = Path.Combine(dir, FileName(new ShardSpec(Shard, Shards, "")));
        string features = FeaturesFileName(json);
        var tensors = new Dictionary<string, Tensor>();
        var meta = new Dictionary<string, string> { ["format"] = Format };
        try
        {
            foreach (var (name, s) in FeatureSets)
            {
                tensors[name + ".sum"] = torch.tensor(s.Sum, dtype: ScalarType.Float64);
                tensors[name + ".outer"] = torch.tensor(s.OuterSum, [s.Dim, s.Dim], dtype: ScalarType.Float64);
                meta[name + ".count"] = s.Count.ToString(CultureInfo.InvariantCulture);
            }
            string tmp = features + ".tmp";
            SafetensorsWriter.Write(tmp, tensors, meta);
            File.Move(tmp, features, true);
        }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
        var root = new JsonObject
        {
            ["format"] = Format,
            ["protocol"] = Protocol,
            ["shard"] = Shard,
            ["shards"] = Shards,
            ["total_items"] = TotalItems,
            ["settings"] = Settings.DeepClone(),
            ["features_file"] = Path.GetFileName(features),
            ["feature_sets"] = new JsonObject(FeatureSets.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonObject { ["count"] = kv.Value.Count, ["dim"] = kv.Value.Dim }))),
            ["fid"] = new JsonObject(Fid.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonArray(kv.Value.A, kv.Value.B)))),
            ["correlations"] = new JsonObject(Correlations.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonArray(kv.Value.X, kv.Value.Y)))),
            ["items"] = new JsonArray(Items.Select(i => (JsonNode)new JsonObject
            {
                ["index"] = i.Index, ["key"] = i.Key,
                ["scores"] = new JsonObject(i.Scores.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            }).ToArray()),
        };
        TrainingCheckpoint.WriteDurable(json, System.Text.Encoding.UTF8.GetBytes(root.ToJsonString(ConfigJson.Options)));
        return json;
    }

    /// <summary>Reads a shard's JSON file and its feature statistics.</summary>
    public static ShardResult Read(string path)
    {
        JsonObject root;
        try { root = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new SonicException($"{path}: not a shard result"); }
        catch (JsonException e) { throw new SonicException($"{path}: not a shard result ({e.Message.Split('\n')[0]})"); }
        if (!(root["format"] is JsonValue f && f.TryGetValue(out string? format) && format == Format))
            throw new SonicException($"{path}: not a shard result (format {root["format"]?.ToJsonString() ?? "missing"}, expected {Format})");
        try
        {
            string featuresPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, root["features_file"]!.GetValue<string>());
            var sets = new Dictionary<string, FeatureStatistics>(StringComparer.Ordinal);
            var declared = root["feature_sets"]!.AsObject();
            if (declared.Count > 0)
            {
                if (!File.Exists(featuresPath)) throw new SonicException($"{path}: its feature statistics {featuresPath} are missing");
                using var file = SafetensorsFile.Open(featuresPath);
                foreach (var (name, _) in declared)
                {
                    using var sum = file.Read(name + ".sum");
                    using var outer = file.Read(name + ".outer");
                    long count = long.Parse(file.Metadata[name + ".count"], CultureInfo.InvariantCulture);
                    sets[name] = new FeatureStatistics(count, sum.to_type(ScalarType.Float64).data<double>().ToArray(), outer.to_type(ScalarType.Float64).data<double>().ToArray());
                }
            }
            return new ShardResult
            {
                Protocol = root["protocol"]!.GetValue<string>(),
                Settings = root["settings"]!.AsObject(),
                Shard = root["shard"]!.GetValue<int>(),
                Shards = root["shards"]!.GetValue<int>(),
                TotalItems = root["total_items"]!.GetValue<int>(),
                FeatureSets = sets,
                Fid = root["fid"]!.AsObject().ToDictionary(kv => kv.Key, kv => (kv.Value![0]!.GetValue<string>(), kv.Value![1]!.GetValue<string>())),
                Correlations = root["correlations"]!.AsObject().ToDictionary(kv => kv.Key, kv => (kv.Value![0]!.GetValue<string>(), kv.Value![1]!.GetValue<string>())),
                Items = root["items"]!.AsArray().Select(n => new ItemResult(n!["index"]!.GetValue<int>(), n["key"]!.GetValue<string>(),
                    n["scores"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<double>()))).ToList(),
            };
        }
        catch (Exception e) when (e is NullReferenceException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new SonicException($"{path}: damaged shard result ({e.Message.Split('\n')[0]})");
        }
    }
}
