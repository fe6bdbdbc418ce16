using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Sharding;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// Everything SonicDiffusion stage 1 and stage 2 read, preprocessed once by the frozen encoders: CLAP embeddings
/// (<see cref="ClapEmbeddingCache"/>, K crops per clip), CLIP token embeddings per caption and of "" (<see
/// cref="TextTokenCache"/>) and, for stage 2, VAE latents of the centre-cropped image and of its mirror (<see
/// cref="ImageCache"/> + <see cref="LatentCache"/>). Each part is keyed by its encoder's weights. <see cref="Rows"/> are
/// the manifest rows all parts could read; the others are counted (<see cref="SkippedAudio"/>, <see cref="SkippedImages"/>).
/// An entry is (row, crop): entry = row·K + crop.
/// </summary>
public sealed class SonicDataCache : IDisposable
{
    private readonly long[] _clip;
    private readonly long[] _token;
    private readonly long[]? _latent;

    public IReadOnlyList<ManifestRow> Rows { get; }
    public ClapEmbeddingCache Clap { get; }
    public TextTokenCache Tokens { get; }
    public LatentCache? Latents { get; }
    public int SkippedAudio { get; }
    public int SkippedImages { get; }
    /// <summary>Class labels in ordinal order; <see cref="ClassOf"/> indexes into it.</summary>
    public IReadOnlyList<string> Labels { get; }
    private readonly int[] _class;

    public int CropsPerClip => Clap.CropsPerClip;
    public long EntryCount => (long)Rows.Count * CropsPerClip;

    private SonicDataCache(IReadOnlyList<ManifestRow> rows, ClapEmbeddingCache clap, TextTokenCache tokens, LatentCache? latents, ImageCache? images, int skippedImages)
    {
        Clap = clap;
        Tokens = tokens;
        Latents = latents;
        var clipOf = Index(clap.Rows);
        var latentOf = images is null ? null : Index(images.Rows);
        Rows = rows.Where(r => clipOf.ContainsKey(r.Line) && (latentOf is null || latentOf.ContainsKey(r.Line))).ToList();
        SkippedAudio = rows.Count - clap.Rows.Count;
        SkippedImages = skippedImages;
        _clip = Rows.Select(r => clipOf[r.Line]).ToArray();
        _latent = latentOf is null ? null : Rows.Select(r => latentOf[r.Line]).ToArray();
        _token = Rows.Select(r => tokens.IndexOf(r.Caption)).ToArray();
        Labels = Rows.Select(r => r.Label).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var labelId = Labels.Select((l, i) => (l, i)).ToDictionary(x => x.l, x => x.i, StringComparer.Ordinal);
        _class = Rows.Select(r => labelId[r.Label]).ToArray();
        if (Rows.Count == 0) throw new SonicException("data cache: no row has both a readable audio file and a readable image");
    }

    private static Dictionary<int, long> Index(IReadOnlyList<ManifestRow> rows)
    {
        var d = new Dictionary<int, long>();
        for (int i = 0; i < rows.Count; i++) d[rows[i].Line] = i;
        return d;
    }

    /// <summary>The audio encoder folder of a model: <paramref name="audioEncoder"/> if given, else &lt;model&gt;/audio_encoder.</summary>
    public static string AudioEncoderDir(string model, string? audioEncoder)
    {
        string dir = audioEncoder ?? Path.Combine(model, SonicDiffusionModel.AudioEncoderFolder);
        if (!Directory.Exists(dir))
            throw new SonicException(audioEncoder is null
                ? $"{model}: no {SonicDiffusionModel.AudioEncoderFolder}/ folder; give the CLAP encoder folder with --audio-encoder"
                : $"{audioEncoder}: audio encoder folder not found");
        return dir;
    }

    /// <summary>
    /// Opens (building what is missing) the caches of <paramref name="rows"/> for <paramref name="model"/> (a diffusers
    /// SD folder or a SonicDiffusion bundle). <paramref name="withLatents"/> adds the VAE latents at
    /// <paramref name="resolution"/> (null = the VAE config's sample_size, else 512).
    /// </summary>
    public static SonicDataCache LoadOrBuild(DatasetManifest manifest, IReadOnlyList<ManifestRow> rows, string model, string? audioEncoder, int crops,
        bool withLatents, int? resolution, string cacheDir, IProgress<ProgressInfo>? progress = null, Action<string>? log = null, int threads = 2,
        CancellationToken cancel = default)
    {
        if (rows.Count == 0) throw new SonicException($"{manifest.FilePath}: no rows to cache");
        string encoderDir = AudioEncoderDir(model, audioEncoder);
        ClapEmbeddingCache? clap = null;
        TextTokenCache? tokens = null;
        LatentCache? latents = null;
        ImageCache? images = null;
        try
        {
            clap = ClapEmbeddingCache.LoadOrBuild(manifest, rows, encoderDir, crops, cacheDir, progress, log, cancel);
            tokens = TextTokenCache.LoadOrBuild(model, clap.Rows.Select(r => r.Caption), cacheDir, 16, progress, log, cancel);
            int skippedImages = 0;
            if (withLatents)
            {
                string vaeDir = Path.Combine(model, "vae");
                if (!Directory.Exists(vaeDir)) throw new SonicException($"{model}: no vae/ folder (stage 2 needs the VAE latents)");
                int res = resolution ?? (ModelExportVaeSampleSize(vaeDir) ?? 512);
                images = ImageCache.LoadOrBuild(manifest, rows, res, cacheDir, progress, log, threads, cancel);
                skippedImages = rows.Count - images.Rows.Count;
                latents = LatentCache.LoadOrBuild(images, vaeDir, cacheDir, 8, progress, log, cancel);
            }
            var cache = new SonicDataCache(rows, clap, tokens, latents, images, skippedImages);
            int lost = rows.Count - cache.Rows.Count;
            if (lost > 0)
                log?.Invoke($"data cache: {lost} of {rows.Count} rows skipped ({cache.SkippedAudio} unreadable audio, {cache.SkippedImages} unreadable images); training on {cache.Rows.Count}");
            return cache;
        }
        catch
        {
            clap?.Dispose();
            tokens?.Dispose();
            latents?.Dispose();
            throw;
        }
        finally { images?.Dispose(); }
    }

    /// <summary>What one shard of <c>sonic data cache --shard I/N</c> wrote: its rows and the parts' counts.</summary>
    public sealed record ShardReport(int Rows, int ClapClips, int Crops, long Dim, int Images, int? Latents);

    /// <summary>
    /// Builds shard <paramref name="shard"/>'s parts of the CLAP, image and latent caches of <paramref name="rows"/>
    /// (rows k with k mod N = I; see <see cref="CacheParts"/>). The CLIP token cache is small and is made when the whole
    /// cache is first opened (a plain <c>sonic data cache</c>, or training), which also assembles the parts.
    /// </summary>
    public static ShardReport BuildShard(DatasetManifest manifest, IReadOnlyList<ManifestRow> rows, string model, string? audioEncoder, int crops,
        bool withLatents, int? resolution, string cacheDir, ShardSpec shard, IProgress<ProgressInfo>? progress = null, Action<string>? log = null, int threads = 2,
        CancellationToken cancel = default)
    {
        if (rows.Count == 0) throw new SonicException($"{manifest.FilePath}: no rows to cache");
        string encoderDir = AudioEncoderDir(model, audioEncoder);
        int clips, images = 0;
        int? latentCount = null;
        long dim;
        using (var clap = ClapEmbeddingCache.LoadOrBuild(manifest, rows, encoderDir, crops, cacheDir, progress, log, cancel, shard))
        {
            clips = clap.Rows.Count;
            dim = clap.Dim;
        }
        if (withLatents)
        {
            string vaeDir = Path.Combine(model, "vae");
            if (!Directory.Exists(vaeDir)) throw new SonicException($"{model}: no vae/ folder (stage 2 needs the VAE latents)");
            int res = resolution ?? (ModelExportVaeSampleSize(vaeDir) ?? 512);
            using var part = ImageCache.LoadOrBuild(manifest, rows, res, cacheDir, progress, log, threads, cancel, shard);
            images = part.Rows.Count;
            string wholeImageKey = ImageCache.ComputeKey(manifest, rows, res);
            using var latents = LatentCache.LoadOrBuild(part, vaeDir, cacheDir, 8, progress, log, cancel, part.Key == wholeImageKey ? null : (wholeImageKey, shard));
            latentCount = (int)latents.Count;
        }
        return new ShardReport(shard.Items(rows.Count).Count(), clips, crops, dim, images, latentCount);
    }

    private static int? ModelExportVaeSampleSize(string vaeDir)
    {
        string cfg = Path.Combine(vaeDir, "config.json");
        return File.Exists(cfg) ? JsonNode.Parse(File.ReadAllText(cfg))?["sample_size"]?.GetValue<int>() : null;
    }

    public int RowOf(long entry) => (int)(entry / CropsPerClip);
    public int ClassOf(int row) => _class[row];

    /// <summary>CLAP embeddings of entries (row·K + crop): float32 [B, d].</summary>
    public Tensor Embeddings(long[] entries) => Clap.Read(entries.Select(e => _clip[e / CropsPerClip] * CropsPerClip + e % CropsPerClip).ToArray());

    /// <summary>Token-cache row of each row's caption.</summary>
    public long TokenRow(int row) => _token[row];

    /// <summary>CLIP token embeddings of token-cache rows (0 = ""): float32 [B, 77, hidden].</summary>
    public Tensor TextTokens(long[] tokenRows) => Tokens.Read(tokenRows);

    /// <summary>Latents of rows, each from the mirrored image where <paramref name="flip"/> is true: [B, C, h, w].</summary>
    public Tensor LatentBatch(int[] rows, Tensor flip)
    {
        if (Latents is null || _latent is null) throw new InvalidOperationException("this data cache was opened without latents");
        return Latents.Batch(rows.Select(r => _latent[r]).ToArray(), flip);
    }

    public JsonObject Describe() => new()
    {
        ["rows"] = Rows.Count,
        ["clap"] = Clap.Describe(),
        ["tokens"] = Tokens.Describe(),
        ["latents"] = Latents?.Describe(),
    };

    public void Dispose()
    {
        Clap.Dispose();
        Tokens.Dispose();
        Latents?.Dispose();
    }
}
