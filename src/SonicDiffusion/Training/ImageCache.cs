using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Sharding;
using SonicDiffusion.Imaging;
using SonicDiffusion.IO;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Training;

/// <summary>
/// The images of a manifest's rows decoded once into one uint8 tensor [N, 3, R, R] (a safetensors file in the cache
/// folder), so training steps never decode PNGs. Preprocessing is the official SD one minus the random flip (applied
/// per step): resize the shorter side to R (bilinear, antialiased), centre crop R×R. Rows whose image cannot be read
/// are skipped and counted. The file is named after a key of the resolution and the rows' (line, image path, size,
/// modification time), so a changed dataset gets a new cache.
/// </summary>
public sealed class ImageCache : IDisposable
{
    public const string Format = "sonic-image-cache/1";

    /// <summary>uint8 [N, 3, R, R], RGB.</summary>
    public Tensor Images { get; }
    /// <summary>The manifest rows of <see cref="Images"/>, in order.</summary>
    public IReadOnlyList<ManifestRow> Rows { get; }
    public int Resolution { get; }
    public string Key { get; }
    public string FilePath { get; }
    /// <summary>Rows left out because their image could not be read (when the cache was built).</summary>
    public int Skipped { get; }

    public long Count => Images.shape[0];

    private ImageCache(Tensor images, IReadOnlyList<ManifestRow> rows, int resolution, string key, string filePath, int skipped)
    {
        Images = images;
        Rows = rows;
        Resolution = resolution;
        Key = key;
        FilePath = filePath;
        Skipped = skipped;
    }

    public static string ComputeKey(DatasetManifest manifest, IReadOnlyList<ManifestRow> rows, int resolution) =>
        new CacheKey().Add(Format).Add(resolution).AddRows(manifest, rows, r => r.Image).Finish();

    /// <summary>Opens the cache of these rows in <paramref name="cacheDir"/>, building it first when absent.</summary>
    /// <remarks>With <paramref name="shard"/> (and no whole cache on disk yet), only the shard's rows are read, into a part
    /// of the whole cache (<see cref="CacheParts"/>), which is returned; the whole cache is assembled from a complete set
    /// of parts when it is next asked for.</remarks>
    public static ImageCache LoadOrBuild(DatasetManifest manifest, IReadOnlyList<ManifestRow> rows, int resolution, string cacheDir,
        IProgress<ProgressInfo>? progress = null, Action<string>? log = null, int threads = 2, CancellationToken cancel = default, ShardSpec? shard = null)
    {
        if (resolution <= 0 || resolution % 8 != 0) throw new SonicException($"image cache: resolution {resolution} must be a positive multiple of 8");
        if (rows.Count == 0) throw new SonicException($"{manifest.FilePath}: no rows to cache");
        string key = ComputeKey(manifest, rows, resolution);
        string path = PathFor(cacheDir, resolution, key);
        if (File.Exists(path))
        {
            log?.Invoke($"image cache: {path}");
            return Open(manifest, path, key);
        }
        if (shard is { IsSharded: true })
        {
            var mine = shard.Items(rows.Count).Select(i => rows[i]).ToList();
            if (mine.Count == 0) throw new SonicException($"{shard}: no rows of the {rows.Count} to cache");
            string partKey = ComputeKey(manifest, mine, resolution);
            string partPath = PathFor(cacheDir, resolution, partKey);
            if (!File.Exists(partPath)) Build(manifest, mine, resolution, partKey, partPath, progress, log, threads, cancel, CacheParts.Metadata(key, shard));
            return Open(manifest, partPath, partKey);
        }
        if (CacheParts.FindComplete(cacheDir, $"images-{resolution}-*.safetensors", key, "image cache", log) is { } parts)
            Assemble(manifest, rows, parts, resolution, key, path, log);
        else Build(manifest, rows, resolution, key, path, progress, log, threads, cancel, []);
        return Open(manifest, path, key);
    }

    /// <summary>The cache file of <paramref name="key"/>.</summary>
    public static string PathFor(string cacheDir, int resolution, string key) => Path.Combine(cacheDir, $"images-{resolution}-{key[..16]}.safetensors");

    private static void Assemble(DatasetManifest manifest, IReadOnlyList<ManifestRow> rows, IReadOnlyList<CacheParts.Part> parts, int resolution, string key,
        string path, Action<string>? log)
    {
        var opened = parts.Select(p => Open(manifest, p.Path, p.Key)).ToList();
        try
        {
            var where = new Dictionary<int, (ImageCache Part, long Index)>();
            foreach (var part in opened)
                for (int i = 0; i < part.Rows.Count; i++) where[part.Rows[i].Line] = (part, i);
            var kept = rows.Where(r => where.ContainsKey(r.Line)).ToList();
            if (kept.Count == 0) throw new SonicException($"{manifest.FilePath}: none of the {rows.Count} images could be read (see the parts' logs)");
            using var scope = torch.NewDisposeScope();
            var images = torch.stack(kept.Select(r => where[r.Line] is var (part, i) ? part.Images[i] : throw new InvalidOperationException()).ToArray(), 0);
            Write(manifest, images, kept.Select(r => r.Line).ToArray(), resolution, rows.Count - kept.Count, key, path,
                [new("assembled_from", string.Join(",", parts.Select(p => Path.GetFileName(p.Path))))]);
            log?.Invoke($"image cache: assembled {kept.Count} images from {parts.Count} shard parts into {path}");
        }
        finally { foreach (var c in opened) c.Dispose(); }
    }

    private static ImageCache Open(DatasetManifest manifest, string path, string key)
    {
        using var file = SafetensorsFile.Open(path);
        if (!file.Metadata.TryGetValue("key", out var stored) || stored != key)
            throw new SonicException($"{path}: image cache key does not match its name (damaged file; delete it to rebuild)");
        var byLine = manifest.Rows.ToDictionary(r => r.Line);
        using var lines = file.Read("lines");
        var rows = lines.data<int>().ToArray().Select(l => byLine.TryGetValue(l, out var r) ? r
            : throw new SonicException($"{path}: cached manifest line {l} is not in {manifest.FilePath} (delete the cache to rebuild)")).ToList();
        var images = file.Read("images");
        int skipped = file.Metadata.TryGetValue("skipped", out var s) && int.TryParse(s, out var k) ? k : 0;
        return new ImageCache(images, rows, (int)images.shape[2], key, path, skipped);
    }

    private static void Build(DatasetManifest manifest, IReadOnlyList<ManifestRow> rows, int resolution, string key, string path,
        IProgress<ProgressInfo>? progress, Action<string>? log, int threads, CancellationToken cancel, IEnumerable<KeyValuePair<string, string>> extraMetadata)
    {
        var decoded = new Tensor?[rows.Count];
        var errors = new string?[rows.Count];
        int done = 0;
        var gate = new object();
        progress?.Report(new ProgressInfo("cache images", 0, rows.Count));
        Parallel.For(0, rows.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads), CancellationToken = cancel }, i =>
        {
            try
            {
                using var scope = torch.NewDisposeScope();
                using var img = ImageTensor.Load(manifest.ImagePath(rows[i]));
                decoded[i] = ToUint8(Preprocess(img, resolution)).MoveToOuterDisposeScope();
            }
            catch (SonicException e) { errors[i] = e.Message; }
            int n = Interlocked.Increment(ref done);
            if (progress != null) lock (gate) progress.Report(new ProgressInfo("cache images", n, rows.Count));
        });
        var keep = Enumerable.Range(0, rows.Count).Where(i => decoded[i] is not null).ToList();
        int skipped = rows.Count - keep.Count;
        if (skipped > 0)
        {
            int bad = Array.FindIndex(errors, e => e != null);
            log?.Invoke($"image cache: skipped {skipped} of {rows.Count} rows with unreadable images (first: {manifest.FilePath}:{rows[bad].Line}: {errors[bad]})");
        }
        if (keep.Count == 0) throw new SonicException($"{manifest.FilePath}: none of the {rows.Count} images could be read");
        try
        {
            using var images = torch.stack(keep.Select(i => decoded[i]!).ToArray(), 0);
            Write(manifest, images, keep.Select(i => rows[i].Line).ToArray(), resolution, skipped, key, path, extraMetadata);
        }
        finally
        {
            foreach (var t in decoded) t?.Dispose();
        }
        log?.Invoke($"image cache: wrote {keep.Count} images to {path}");
    }

    private static void Write(DatasetManifest manifest, Tensor images, int[] lines, int resolution, int skipped, string key, string path,
        IEnumerable<KeyValuePair<string, string>> extraMetadata)
    {
        using var lineTensor = torch.tensor(lines, dtype: ScalarType.Int32);
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["key"] = key,
            ["resolution"] = resolution.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["manifest"] = manifest.FilePath,
            ["skipped"] = skipped.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["preprocess"] = "resize shorter side (bilinear, antialias) + centre crop",
        };
        foreach (var (k, v) in extraMetadata) metadata[k] = v;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string tmp = path + "." + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".tmp";
        SafetensorsWriter.Write(tmp, new Dictionary<string, Tensor> { ["images"] = images, ["lines"] = lineTensor }, metadata);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>[1, 3, H, W] (or [3, H, W]) in [0, 1] → [3, R, R] in [0, 1]: shorter side resized to R, centre crop.</summary>
    public static Tensor Preprocess(Tensor image, int resolution)
    {
        using var scope = torch.NewDisposeScope();
        var x = image.dim() == 3 ? image.unsqueeze(0) : image;
        long h = x.shape[2], w = x.shape[3];
        if (Math.Min(h, w) != resolution)
        {
            double s = resolution / (double)Math.Min(h, w);
            long nh = Math.Max(resolution, (long)Math.Round(h * s)), nw = Math.Max(resolution, (long)Math.Round(w * s));
            x = F.interpolate(x, size: [nh, nw], mode: InterpolationMode.Bilinear, align_corners: false, antialias: s < 1);
            h = nh;
            w = nw;
        }
        long top = (h - resolution) / 2, left = (w - resolution) / 2;
        return x[0].narrow(1, top, resolution).narrow(2, left, resolution).clamp(0, 1).contiguous().MoveToOuterDisposeScope();
    }

    private static Tensor ToUint8(Tensor image01) => image01.mul(255).round_().to_type(ScalarType.Byte);

    /// <summary>The images at <paramref name="indices"/> as float32 [B, 3, R, R] in [−1, 1] (the VAE's input range).</summary>
    public Tensor Batch(long[] indices)
    {
        using var scope = torch.NewDisposeScope();
        using var idx = torch.tensor(indices, dtype: ScalarType.Int64);
        return Images.index_select(0, idx).to_type(ScalarType.Float32).div_(127.5).sub_(1).MoveToOuterDisposeScope();
    }

    /// <summary>Describes the cache for a run's config.json (saved and compared on resume).</summary>
    public JsonObject Describe() => new() { ["key"] = Key, ["count"] = Count, ["resolution"] = Resolution };

    public void Dispose() => Images.Dispose();
}
