using System.Globalization;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Imaging;
using SonicDiffusion.Sharding;
using SonicDiffusion.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// <c>sonic eval --protocol paper --shard I/N</c>: the pairs k (image k with the k-th row, <see cref="PaperEvaluator.Pair"/>)
/// with k mod N = I, written as a <see cref="ShardResult"/> that <c>sonic eval merge</c> combines. Per item: ais and
/// iis (each a query's ranking score, item-local given the reference sets), aic (1 when ViT-L/14's zero-shot class is
/// the row's label); Inception pool3 features of the generated and the paired dataset image go into the feature sets
/// "inception_generated" and "inception_dataset" (FID = that pair). Wav2CLIP's standardisation is the statistics of
/// every row's clip, as the unsharded batch computes them (cheap: spectrograms only), so a shard's AIS equals the
/// unsharded one. Finished items go to a done-list (<c>shard-I-of-N.items.jsonl</c>); a re-run skips them.
/// </summary>
public sealed class PaperShardEvaluator(PaperModels models)
{
    public const string Protocol = "paper";

    public static string DoneListName(ShardSpec shard) => $"shard-{shard.Tag}.items.jsonl";

    public ShardResult Run(DatasetManifest manifest, IReadOnlyList<string> images, IReadOnlyList<ManifestRow> rows, PaperReferenceSet refs,
        IReadOnlyList<string> classes, JsonObject settings, ShardSpec shard, string outDir, IProgress<ProgressInfo>? progress = null, Action<string>? log = null,
        CancellationToken ct = default)
    {
        Directory.CreateDirectory(outDir);
        using var done = DoneList.Open(Path.Combine(outDir, DoneListName(shard)));
        if (done.Entries.TryGetValue("settings", out var saved))
        {
            if (ShardMerge.FirstDifference(saved["settings"], settings, "") is { } diff)
                throw new SonicException($"{done.FilePath}: made with other settings ({diff}); use another --out or delete the file to redo the shard");
        }
        else done.Add(new JsonObject { ["key"] = "settings", ["settings"] = settings.DeepClone() });

        string Key(int k) => string.Create(CultureInfo.InvariantCulture, $"{k}:{images[k]}");
        var mine = shard.Items(images.Count).ToList();
        var todo = mine.Where(k => !done.Contains(Key(k))).ToList();
        log?.Invoke($"{shard}: {mine.Count} of {images.Count} images" + (todo.Count < mine.Count ? $", {mine.Count - todo.Count} already done (skipped)" : ""));
        var evaluator = new PaperEvaluator(models);
        bool ais = models.Wav2Clip != null && models.ClipB32 != null;
        using var inference = torch.inference_mode();
        (double Mean, double Std) standardization = default;
        if (ais && todo.Count > 0) standardization = models.Wav2Clip!.Standardization(Stream(evaluator, rows.Select(manifest.AudioPath)));
        using var labels = ClipZeroShot.LabelEmbeddings(models.ClipL14, ClipTokenizer.Default, classes);
        int finished = 0;
        progress?.Report(new ProgressInfo("paper eval shard", 0, mine.Count));
        foreach (int k in mine)
        {
            ct.ThrowIfCancellationRequested();
            if (!done.Contains(Key(k))) done.Add(Measure(evaluator, manifest, images[k], rows[k], refs, classes, labels, ais ? standardization : null, Key(k), k));
            progress?.Report(new ProgressInfo("paper eval shard", ++finished, mine.Count));
        }

        var sets = new Dictionary<string, FeatureStatistics>(StringComparer.Ordinal);
        var items = new List<ItemResult>();
        foreach (int k in mine)
        {
            var entry = done.Entries[Key(k)];
            items.Add(new ItemResult(k, Key(k), entry["scores"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<double>(), StringComparer.Ordinal)));
            foreach (var (name, vector) in entry["features"]!.AsObject())
            {
                var x = vector!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
                if (!sets.TryGetValue(name, out var s)) sets[name] = s = new FeatureStatistics(x.Length);
                s.Add(x);
            }
        }
        var fid = new Dictionary<string, (string, string)>();
        if (models.Inception is { } inception)
        {
            foreach (var name in new[] { "inception_generated", "inception_dataset" })
                if (!sets.ContainsKey(name)) sets[name] = new FeatureStatistics(inception.FeatureDim);
            fid["fid"] = ("inception_generated", "inception_dataset");
        }
        var result = new ShardResult
        {
            Protocol = Protocol, Settings = settings, Shard = shard.Index, Shards = shard.Count, TotalItems = images.Count, Items = items, FeatureSets = sets, Fid = fid,
        };
        result.Write(outDir);
        return result;
    }

    private static IEnumerable<Tensor> Stream(PaperEvaluator evaluator, IEnumerable<string> paths)
    {
        foreach (var p in paths)
        {
            using var wave = evaluator.LoadAudio(p);
            yield return wave;
        }
    }

    private JsonObject Measure(PaperEvaluator evaluator, DatasetManifest manifest, string image, ManifestRow row, PaperReferenceSet refs, IReadOnlyList<string> classes,
        Tensor labels, (double Mean, double Std)? standardization, string key, int index)
    {
        using var scope = torch.NewDisposeScope();
        var scores = new JsonObject();
        var features = new JsonObject();
        string dataset = manifest.ImagePath(row);
        if (standardization is { } s)
        {
            string audioPath = manifest.AudioPath(row);
            var audio = ClipZeroShot.Normalize(evaluator.EmbedClip(audioPath, evaluator.LoadAudio(audioPath), s.Mean, s.Std));
            var imageB = PaperEvaluator.EmbedImages(models.ClipB32!, [image], "ViT-B/32 image", cache: models.Cache);
            scores["ais"] = PaperRanking.Scores(imageB, audio, refs.Audio)[0];
        }
        var generated = PaperEvaluator.EmbedImages(models.ClipL14, [image], "ViT-L/14 generated", cache: models.Cache);
        var paired = PaperEvaluator.EmbedImages(models.ClipL14, [dataset], "ViT-L/14 dataset", cache: models.Cache);
        scores["iis"] = PaperRanking.Scores(generated, paired, refs.Images)[0];
        string predicted = classes[(int)ClipZeroShot.Predict(generated, labels)[0]];
        scores["aic"] = predicted == row.Label ? 1.0 : 0.0;
        if (models.Inception is not null)
        {
            features["inception_generated"] = Vector(evaluator.InceptionFeatures(image));
            features["inception_dataset"] = Vector(evaluator.InceptionFeatures(dataset));
        }
        return new JsonObject
        {
            ["key"] = key, ["index"] = index, ["image"] = image, ["audio"] = row.Audio, ["predicted"] = predicted, ["scores"] = scores, ["features"] = features,
        };
    }

    private static JsonArray Vector(Tensor features) =>
        new(features.reshape(-1).to_type(ScalarType.Float64).data<double>().ToArray().Select(v => (JsonNode)v).ToArray());
}
