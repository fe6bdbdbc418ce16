using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Sharding;
using TorchSharp;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// <c>sonic eval --shard I/N</c>: one shard of the main set of <see cref="WorldEvaluator"/> (no sweeps), written as a
/// <see cref="ShardResult"/> that <see cref="ShardMerge"/> combines. Items are numbered over the whole run, the same
/// in every shard: item k &lt; M is the k-th held-out sound of the main set (seed = --seed + k, as unsharded), item
/// M + j the j-th reserve real image of the FID-proxy's reference set; shard I does the items k with k mod N = I.
/// Per item: aic (1 when the generated image's class is the sound's), iis (cosine to the paired real image),
/// intensity and the classifier's magnitude (for ρ), luminance; features of the generated / paired real / reference
/// images go into the feature sets "generated", "paired_real", "reference". The merged AIC, IIS, FID-proxy, its real
/// baseline and ρ equal the unsharded report's main figures. Finished items are recorded in a done-list
/// (<c>shard-I-of-N.items.jsonl</c>); a re-run skips them.
/// </summary>
public sealed class WorldShardEvaluator(SonicDiffusionModel model, WorldClassifier classifier, EvaluationOptions options)
{
    public const string Protocol = "world";

    public EvaluationOptions Options { get; } = options.Validate();
    public string ClassifierSource { get; init; } = "";

    private sealed record Item(int Index, ManifestRow Row, bool Generated, long Seed, bool InFid);

    public static string DoneListName(ShardSpec shard) => $"shard-{shard.Tag}.items.jsonl";

    /// <summary>Runs shard <paramref name="shard"/> into <paramref name="outDir"/>; returns the shard result (also written there).</summary>
    public ShardResult Run(DatasetManifest manifest, ShardSpec shard, string outDir, IProgress<ProgressInfo>? progress = null, Action<string>? log = null, CancellationToken ct = default)
    {
        var (rows, split) = WorldEvaluator.HeldOutRows(manifest, classifier.Config, Options.Split, s => log?.Invoke(s), Options.Where);
        bool HasImage(ManifestRow r) => r.Image.Length > 0 && File.Exists(manifest.ImagePath(r));
        var main = rows.Take(Options.Count).ToList();
        var reserve = rows.Skip(main.Count).Where(HasImage).ToList();
        var withImage = Enumerable.Range(0, main.Count).Where(i => HasImage(main[i])).ToList();
        int fidCount = Math.Min(withImage.Count, reserve.Count);
        if (fidCount < 2) fidCount = 0;
        var inFid = withImage.Take(fidCount).ToHashSet();
        var items = main.Select((r, i) => new Item(i, r, true, Options.Seed + i, inFid.Contains(i)))
            .Concat(reserve.Take(fidCount).Select((r, j) => new Item(main.Count + j, r, false, 0, true))).ToList();

        int size = Options.Size ?? (model.Sd.Unet.Config.SampleSize ?? 64) * model.Sd.VaeScaleFactor;
        double beta = Options.Beta ?? model.Adapters.Config.Beta;
        var settings = new JsonObject
        {
            ["model"] = model.Source, ["classifier"] = ClassifierSource, ["manifest"] = Path.GetFullPath(manifest.FilePath), ["split"] = split,
            ["beta"] = beta, ["size"] = size, ["main_items"] = main.Count, ["fid_items"] = fidCount,
            ["options"] = JsonSerializer.SerializeToNode(Options with { SweepCount = 0, Betas = [], Guidances = [] }, ConfigJson.Options),
        };

        Directory.CreateDirectory(outDir);
        using var done = DoneList.Open(Path.Combine(outDir, DoneListName(shard)));
        if (done.Entries.TryGetValue("settings", out var saved))
        {
            if (ShardMerge.FirstDifference(saved["settings"], settings, "") is { } diff)
                throw new SonicException($"{done.FilePath}: made with other settings ({diff}); use another --out or delete the file to redo the shard");
        }
        else done.Add(new JsonObject { ["key"] = "settings", ["settings"] = settings.DeepClone() });

        var mine = items.Where(i => shard.Owns(i.Index)).ToList();
        int skipped = mine.Count(i => done.Contains(Key(i)));
        log?.Invoke($"{shard}: {mine.Count} of {items.Count} items" + (skipped > 0 ? $", {skipped} already done (skipped)" : ""));
        var pipeline = new AudioToImagePipeline(model);
        int finished = 0;
        progress?.Report(new ProgressInfo("eval shard", 0, mine.Count));
        foreach (var item in mine)
        {
            ct.ThrowIfCancellationRequested();
            if (!done.Contains(Key(item))) done.Add(Measure(manifest, item, beta, size, pipeline, HasImage(item.Row)));
            progress?.Report(new ProgressInfo("eval shard", ++finished, mine.Count));
        }
        pipeline.ClearCache();

        var sets = new Dictionary<string, FeatureStatistics>(StringComparer.Ordinal);
        var results = new List<ItemResult>();
        foreach (var item in mine)
        {
            var entry = done.Entries[Key(item)];
            results.Add(new ItemResult(item.Index, Key(item), entry["scores"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<double>(), StringComparer.Ordinal)));
            foreach (var (name, vector) in entry["features"]!.AsObject())
            {
                var x = vector!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
                if (!sets.TryGetValue(name, out var s)) sets[name] = s = new FeatureStatistics(x.Length);
                s.Add(x);
            }
        }
        int dim = classifier.Config.FeatureDim;
        foreach (var name in new[] { "generated", "paired_real", "reference" })
            if (!sets.ContainsKey(name)) sets[name] = new FeatureStatistics(dim);
        var result = new ShardResult
        {
            Protocol = Protocol, Settings = settings, Shard = shard.Index, Shards = shard.Count, TotalItems = items.Count, Items = results, FeatureSets = sets,
            Fid = new Dictionary<string, (string, string)> { ["fid"] = ("generated", "reference"), ["fid_real_baseline"] = ("paired_real", "reference") },
            Correlations = new Dictionary<string, (string, string)> { ["intensity_spearman"] = ("intensity", "magnitude") },
        };
        result.Write(outDir);
        return result;
    }

    private static string Key(Item item) => string.Create(CultureInfo.InvariantCulture, $"{item.Index}:{item.Row.Audio}");

    private JsonObject Measure(DatasetManifest manifest, Item item, double beta, int size, AudioToImagePipeline pipeline, bool hasImage)
    {
        var scores = new JsonObject();
        var features = new JsonObject();
        using var scope = torch.NewDisposeScope();
        WorldEvaluator.Prediction? real = hasImage ? WorldEvaluator.ClassifyReal(classifier, manifest.ImagePath(item.Row)) : null;
        if (item.Generated)
        {
            var req = WorldEvaluator.Request(manifest, Options, item.Row, item.Seed, beta, Options.Guidance, size);
            WorldEvaluator.Prediction p;
            using (var image = pipeline.Generate(req)) p = WorldEvaluator.Classify(classifier, image);
            scores["aic"] = p.Class == classifier.Config.LabelIndex(item.Row.Label) ? 1.0 : 0.0;
            scores["magnitude"] = p.Magnitude;
            scores["luminance"] = p.Luminance;
            if (item.Row.Number("intensity") is { } intensity) scores["intensity"] = intensity;
            if (real is not null) scores["iis"] = WorldEvaluator.Cosine(p.Features, real.Features);
            if (item.InFid)
            {
                features["generated"] = Vector(p.Features);
                features["paired_real"] = Vector(real!.Features);
            }
        }
        else features["reference"] = Vector(real!.Features);
        return new JsonObject { ["key"] = Key(item), ["index"] = item.Index, ["audio"] = item.Row.Audio, ["seed"] = item.Seed, ["scores"] = scores, ["features"] = features };
    }

    private static JsonArray Vector(double[] x) => new(x.Select(v => (JsonNode)v).ToArray());
}
