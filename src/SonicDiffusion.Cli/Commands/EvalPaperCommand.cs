using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Evaluation;
using SonicDiffusion.Models;

namespace SonicDiffusion.Cli.Commands;

/// <summary>
/// <c>sonic eval --protocol paper</c> (the paper's AIS, IIS, AIC and FID on a folder of generated images; see
/// <see cref="PaperEvaluator"/>) and <c>sonic eval refs</c> (the seeded reference sets AIS and IIS rank against).
/// </summary>
public static class EvalPaperCommand
{
    public const string ScoresFile = "scores.jsonl";
    public const string ReportFile = "paper-report.json";
    public const string GeneratedMomentsFile = "fid-generated.safetensors";
    public const string DatasetMomentsFile = "fid-dataset.safetensors";

    private static readonly Option<string?> Images = new("--images") { Description = "--protocol paper: folder of generated images (sorted by path; image k pairs with the k-th row by sorted audio path)" };
    private static readonly Option<string?> Refs = new("--refs") { Description = "--protocol paper: reference sets from 'sonic eval refs'" };
    private static readonly Option<string?> ClipL = new("--clip-l14") { Description = "CLIP ViT-L/14: OpenAI ViT-L-14.pt or an HF clip-vit-large-patch14 folder (IIS, AIC)" };
    private static readonly Option<string?> ClipB = new("--clip-b32") { Description = "CLIP ViT-B/32: OpenAI ViT-B-32.pt or an HF clip-vit-base-patch32 folder (AIS; needs --wav2clip)" };
    private static readonly Option<string?> Wav2ClipPath = new("--wav2clip") { Description = "Wav2CLIP checkpoint Wav2CLIP.pt (AIS)" };
    private static readonly Option<string?> Inception = new("--inception") { Description = "pytorch-fid weights pt_inception-2015-12-05-6726825d.pth (FID)" };
    private static readonly Option<bool> Resample = new("--wav2clip-resample") { Description = "Feed Wav2CLIP 16 kHz audio (corrected); default: the official 44.1 kHz input, unresampled" };
    private static readonly Option<string?> EmbeddingCacheDir = new("--embedding-cache") { Description = "--protocol paper / refs: folder of per-file embeddings kept between runs (default: cache/embeddings next to the manifest)" };
    private static readonly Option<bool> NoEmbeddingCache = new("--no-embedding-cache") { Description = "--protocol paper / refs: compute every embedding, keep none" };

    /// <summary>Adds the paper protocol's options to <c>sonic eval</c>.</summary>
    public static void AddOptions(Command eval)
    {
        foreach (var o in new Option[] { Images, Refs, ClipL, ClipB, Wav2ClipPath, Inception, Resample, EmbeddingCacheDir, NoEmbeddingCache }) eval.Options.Add(o);
    }

    private static EmbeddingCache? CacheFor(ParseResult pr, DatasetManifest manifest) =>
        pr.GetValue(NoEmbeddingCache) ? null : new EmbeddingCache(pr.GetValue(EmbeddingCacheDir) ?? Path.Combine(manifest.BaseDirectory, "cache", "embeddings"));

    private static void ReportCache(EmbeddingCache? cache)
    {
        if (cache is not null) Console.WriteLine($"embedding cache: {cache.Hits} reused, {cache.Misses} computed ({cache.Directory})");
    }

    private static PaperModels LoadModels(ParseResult pr, bool needInception, bool refsOnly, EmbeddingCache? cache)
    {
        string clipL = pr.GetValue(ClipL) ?? throw new SonicException("--clip-l14 is required (CLIP ViT-L/14: IIS and AIC)");
        string? clipB = pr.GetValue(ClipB), w2c = pr.GetValue(Wav2ClipPath), inc = pr.GetValue(Inception);
        if (!refsOnly && (clipB == null) != (w2c == null)) throw new SonicException("AIS needs both --clip-b32 and --wav2clip");
        if (refsOnly && w2c == null) throw new SonicException("--wav2clip is required (the reference audio set is Wav2CLIP embeddings)");
        if (needInception && inc == null) Console.Error.WriteLine("note: no --inception: FID is skipped");
        return new PaperModels(ClipModel.Load(clipL), clipB != null ? ClipModel.Load(clipB) : null, w2c != null ? Wav2Clip.Load(w2c) : null,
            needInception && inc != null ? FidInceptionV3.Load(inc) : null, pr.GetValue(Resample)) { Cache = cache };
    }

    private static List<ManifestRow> SelectRows(DatasetManifest manifest, string split)
    {
        var rows = manifest.Rows.Where(r => r.Split == split).ToList();
        if (rows.Count == 0) throw new SonicException($"{manifest.FilePath}: no rows with split '{split}'");
        return rows;
    }

    /// <summary>Runs <c>sonic eval --protocol paper</c>; writes scores.jsonl, paper-report.json and the FID statistics to <paramref name="outDir"/>.</summary>
    public static int Run(ParseResult pr, string dataPath, string outDir, string split, Sharding.ShardSpec shard)
    {
        string images = pr.GetValue(Images) ?? throw new SonicException("--protocol paper needs --images DIR");
        string refsPath = pr.GetValue(Refs) ?? throw new SonicException("--protocol paper needs --refs FILE (make one with: sonic eval refs)");
        var manifest = DatasetManifest.Read(dataPath, ["audio", "image", "label"]);
        var (paired, rows) = PaperEvaluator.Pair(images, manifest, SelectRows(manifest, split));
        var classes = ClipZeroShot.ClassSet(manifest.Rows.Select(r => r.Label));
        using var refs = PaperReferenceSet.Load(refsPath);
        var models = LoadModels(pr, needInception: true, refsOnly: false, CacheFor(pr, manifest));
        try
        {
            if (shard.IsSharded)
            {
                var settings = new JsonObject
                {
                    ["data"] = Path.GetFullPath(dataPath), ["split"] = split, ["images"] = Path.GetFullPath(images), ["refs"] = Path.GetFullPath(refsPath),
                    ["count"] = paired.Count, ["classes"] = new JsonArray(classes.Select(c => (JsonNode)c).ToArray()),
                    ["wav2clip_input"] = models.Wav2ClipResample ? "16 kHz (resampled)" : "44.1 kHz, 442763 samples (official)",
                    ["models"] = new JsonObject { ["clip_l14"] = models.ClipL14.Source, ["clip_b32"] = models.ClipB32?.Source, ["wav2clip"] = models.Wav2Clip?.Source, ["inception"] = models.Inception?.Source },
                };
                var part = ConsoleProgress.Run(p => new PaperShardEvaluator(models).Run(manifest, paired, rows, refs, classes, settings, shard, outDir, p,
                    line => Console.Error.WriteLine("note: " + line), CliContext.Cancellation));
                ReportCache(models.Cache);
                Console.WriteLine($"wrote {Path.Combine(outDir, Sharding.ShardResult.FileName(shard))}: {part.Items.Count} of {part.TotalItems} images; when every shard is done: sonic eval merge {outDir}");
                return 0;
            }
            var scores = ConsoleProgress.Run(p => new PaperEvaluator(models).Score(manifest, paired, rows, refs, classes, p, CliContext.Cancellation));
            Directory.CreateDirectory(outDir);
            File.WriteAllLines(Path.Combine(outDir, ScoresFile), scores.Items.Select(i => JsonSerializer.Serialize(i, ConfigJson.Options).ReplaceLineEndings("")));
            scores.GeneratedMoments?.Save(Path.Combine(outDir, GeneratedMomentsFile));
            scores.DatasetMoments?.Save(Path.Combine(outDir, DatasetMomentsFile));
            var report = new JsonObject
            {
                ["protocol"] = "paper", ["count"] = scores.Items.Count, ["ais"] = scores.Ais, ["iis"] = scores.Iis, ["aic"] = scores.Aic, ["fid"] = scores.Fid,
                ["classes"] = new JsonArray(scores.Classes.Select(c => (JsonNode)c).ToArray()),
                ["wav2clip_input"] = models.Wav2ClipResample ? "16 kHz (resampled)" : "44.1 kHz, 442763 samples (official)",
                ["refs"] = Path.GetFullPath(refsPath), ["images"] = Path.GetFullPath(images), ["data"] = Path.GetFullPath(dataPath),
                ["models"] = new JsonObject { ["clip_l14"] = models.ClipL14.Source, ["clip_b32"] = models.ClipB32?.Source, ["wav2clip"] = models.Wav2Clip?.Source, ["inception"] = models.Inception?.Source },
            };
            File.WriteAllText(Path.Combine(outDir, ReportFile), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            string F(double? v) => v is { } x ? x.ToString("0.0000", CultureInfo.InvariantCulture) : "—";
            Console.WriteLine($"AIS {F(scores.Ais)} · IIS {F(scores.Iis)} · AIC {F(scores.Aic)} · FID {F(scores.Fid)} · n = {scores.Items.Count}");
            ReportCache(models.Cache);
            Console.WriteLine($"wrote {Path.Combine(outDir, ReportFile)} and {Path.Combine(outDir, ScoresFile)}");
            return 0;
        }
        finally
        {
            models.ClipL14.Dispose();
            models.ClipB32?.Dispose();
            models.Wav2Clip?.Dispose();
            models.Inception?.Dispose();
        }
    }

    /// <summary><c>sonic eval refs</c>.</summary>
    public static Command CreateRefs()
    {
        var data = new Option<string>("--data") { Description = "Manifest (.jsonl or .csv) with audio and image columns", Required = true };
        var count = new Option<int>("--count") { Description = "Rows drawn for each reference set", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "Seed of the draw (audio: seed, images: seed + 1)", DefaultValueFactory = _ => 0 };
        var split = new Option<string>("--split") { Description = "Manifest split the rows are drawn from", DefaultValueFactory = _ => "train" };
        var output = new Option<string>("--out") { Description = "Reference-set file (.safetensors)", Required = true };
        var cmd = new Command("refs", "Build the paper protocol's reference sets (Wav2CLIP audio embeddings, CLIP ViT-L/14 image embeddings of seeded random rows)")
        {
            data, count, seed, split, output, ClipL, Wav2ClipPath, Resample, EmbeddingCacheDir, NoEmbeddingCache,
        };
        cmd.SetAction(pr =>
        {
            var manifest = DatasetManifest.Read(pr.GetValue(data)!, ["audio", "image"]);
            var rows = SelectRows(manifest, pr.GetValue(split)!);
            int n = pr.GetValue(count), s = pr.GetValue(seed);
            var audioRows = PaperReferenceSet.Choose(rows.Count, n, s).Select(i => rows[i]).ToList();
            var imageRows = PaperReferenceSet.Choose(rows.Count, n, s + 1).Select(i => rows[i]).ToList();
            var models = LoadModels(pr, needInception: false, refsOnly: true, CacheFor(pr, manifest));
            try
            {
                var evaluator = new PaperEvaluator(models);
                var (audio, images) = ConsoleProgress.Run(p =>
                {
                    using var inference = TorchSharp.torch.inference_mode();
                    var a = evaluator.EmbedAudio(audioRows.Select(manifest.AudioPath).ToList(), p, CliContext.Cancellation);
                    var i = PaperEvaluator.EmbedImages(models.ClipL14, imageRows.Select(manifest.ImagePath).ToList(), "ViT-L/14 images", p, CliContext.Cancellation, models.Cache);
                    return (a, i);
                });
                var meta = new Dictionary<string, string>
                {
                    ["format"] = "sonic-paper-refs/1", ["manifest"] = Path.GetFullPath(manifest.FilePath), ["split"] = pr.GetValue(split)!,
                    ["count"] = n.ToString(CultureInfo.InvariantCulture), ["seed"] = s.ToString(CultureInfo.InvariantCulture),
                    ["audio_rows"] = string.Join("\n", audioRows.Select(r => r.Audio)), ["image_rows"] = string.Join("\n", imageRows.Select(r => r.Image)),
                    ["wav2clip"] = models.Wav2Clip!.Source, ["clip_l14"] = models.ClipL14.Source,
                    ["wav2clip_input"] = models.Wav2ClipResample ? "16k" : "44.1k-official",
                };
                using var set = new PaperReferenceSet(audio, images, meta);
                string outPath = pr.GetValue(output)!;
                Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(outPath))!);
                set.Save(outPath);
                ReportCache(models.Cache);
                Console.WriteLine($"wrote {outPath}: {audio.shape[0]} audio × {audio.shape[1]}, {images.shape[0]} images × {images.shape[1]} (seed {s})");
                return 0;
            }
            finally
            {
                models.ClipL14.Dispose();
                models.ClipB32?.Dispose();
                models.Wav2Clip?.Dispose();
            }
        });
        return cmd;
    }
}
