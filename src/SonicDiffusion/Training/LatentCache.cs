using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Sharding;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// VAE latents of an <see cref="ImageCache"/>, encoded once: float32 [N, 2, C, R/8, R/8] = posterior mean ×
/// scaling_factor of each image (slot 0) and of its horizontal mirror (slot 1), so the random flip of training costs
/// nothing and matches what the VAE would give for a flipped image. The file is keyed by the image cache key and the
/// VAE folder's config.json and weights bytes: new VAE weights give a new key, hence a fresh encoding.
/// </summary>
public sealed class LatentCache : IDisposable
{
    public const string Format = "sonic-latent-cache/1";

    /// <summary>float32 [N, 2, C, h, w]; slot 1 is the flipped image.</summary>
    public Tensor Latents { get; }
    public string Key { get; }
    public string FilePath { get; }
    public double ScalingFactor { get; }

    public long Count => Latents.shape[0];

    private LatentCache(Tensor latents, string key, string filePath, double scalingFactor)
    {
        Latents = latents;
        Key = key;
        FilePath = filePath;
        ScalingFactor = scalingFactor;
    }

    /// <summary>Key of a VAE folder (config.json + weights file contents).</summary>
    public static string VaeKey(string vaeDir)
    {
        var key = new CacheKey().Add("vae");
        string cfg = Path.Combine(vaeDir, "config.json");
        if (File.Exists(cfg)) key.AddFileContents(cfg);
        return key.AddFileContents(StableDiffusionComponents.FindWeights(vaeDir)).Finish();
    }

    public static string ComputeKey(string imageCacheKey, string vaeKey) => new CacheKey().Add(Format).Add(imageCacheKey).Add(vaeKey).Finish();

    /// <summary>
    /// Opens the latents of <paramref name="images"/> under the VAE of <paramref name="vaeDir"/>, encoding them first
    /// (batches of <paramref name="batchSize"/>, no grad) when the cache folder has none for this key.
    /// </summary>
    /// <remarks><paramref name="partOf"/> (shard builds): <paramref name="images"/> is a shard's part of the image cache
    /// whose whole key is <c>partOf.WholeImageKey</c>; the latents are written as a part of the whole latent cache
    /// (<see cref="CacheParts"/>). A whole latent cache missing on disk is assembled from a complete set of parts.</remarks>
    public static LatentCache LoadOrBuild(ImageCache images, string vaeDir, string cacheDir, int batchSize = 32,
        IProgress<ProgressInfo>? progress = null, Action<string>? log = null, CancellationToken cancel = default, (string WholeImageKey, ShardSpec Shard)? partOf = null)
    {
        string vaeKey = VaeKey(vaeDir);
        string key = ComputeKey(images.Key, vaeKey);
        string path = Path.Combine(cacheDir, $"latents-{images.Resolution}-{key[..16]}.safetensors");
        if (!File.Exists(path))
        {
            var parts = partOf is null ? CacheParts.FindComplete(cacheDir, $"latents-{images.Resolution}-*.safetensors", key, "latent cache", log) : null;
            if (parts is not null) Assemble(images, parts, cacheDir, key, path, log);
            else
            {
                using var vae = ModelExport.LoadVae(vaeDir);
                var extra = partOf is { } p ? CacheParts.Metadata(ComputeKey(p.WholeImageKey, vaeKey), p.Shard) : [];
                Build(images, vae, key, path, batchSize, progress, cancel, extra);
                log?.Invoke($"latent cache: wrote {images.Count} × 2 latents to {path}");
            }
        }
        else log?.Invoke($"latent cache: {path}");
        using var file = SafetensorsFile.Open(path);
        if (!file.Metadata.TryGetValue("key", out var stored) || stored != key)
            throw new SonicException($"{path}: latent cache key does not match its name (damaged file; delete it to rebuild)");
        var latents = file.Read("latents");
        if (latents.shape[0] != images.Count)
            throw new SonicException($"{path}: holds {latents.shape[0]} latents but the image cache has {images.Count} images (delete it to rebuild)");
        double scaling = double.Parse(file.Metadata["scaling_factor"], System.Globalization.CultureInfo.InvariantCulture);
        return new LatentCache(latents, key, path, scaling);
    }

    /// <summary>The whole latents from a complete set of parts: each image's pair copied from the part that encoded it, in the image cache's order.</summary>
    private static void Assemble(ImageCache images, IReadOnlyList<CacheParts.Part> parts, string cacheDir, string key, string path, Action<string>? log)
    {
        var where = new Dictionary<int, (int Part, long Index)>();
        var partLatents = new List<Tensor>();
        double scaling = 0;
        try
        {
            for (int p = 0; p < parts.Count; p++)
            {
                using var file = SafetensorsFile.Open(parts[p].Path);
                string imageKey = file.Metadata.GetValueOrDefault("image_cache", "");
                string imagePath = imageKey.Length >= 16 ? ImageCache.PathFor(cacheDir, images.Resolution, imageKey) : "";
                if (!File.Exists(imagePath)) throw new SonicException($"{parts[p].Path}: its image cache part {imagePath} is missing (delete the parts to rebuild)");
                using (var imageFile = SafetensorsFile.Open(imagePath))
                using (var lines = imageFile.Read("lines"))
                {
                    var l = lines.data<int>().ToArray();
                    for (int i = 0; i < l.Length; i++) where[l[i]] = (p, i);
                }
                partLatents.Add(file.Read("latents"));
                scaling = double.Parse(file.Metadata["scaling_factor"], System.Globalization.CultureInfo.InvariantCulture);
            }
            var first = partLatents[0];
            using var all = torch.empty([images.Count, .. first.shape[1..]], ScalarType.Float32);
            for (int i = 0; i < images.Rows.Count; i++)
            {
                if (!where.TryGetValue(images.Rows[i].Line, out var at))
                    throw new SonicException($"latent cache: no shard part encoded manifest line {images.Rows[i].Line} (delete the parts to rebuild)");
                all[i].copy_(partLatents[at.Part][at.Index]);
            }
            Write(all, key, path, images.Key, scaling, [new("assembled_from", string.Join(",", parts.Select(p => Path.GetFileName(p.Path))))]);
            log?.Invoke($"latent cache: assembled {images.Count} × 2 latents from {parts.Count} shard parts into {path}");
        }
        finally { foreach (var t in partLatents) t.Dispose(); }
    }

    private static void Write(Tensor all, string key, string path, string imageKey, double scalingFactor, IEnumerable<KeyValuePair<string, string>> extraMetadata)
    {
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["key"] = key,
            ["image_cache"] = imageKey,
            ["scaling_factor"] = scalingFactor.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            ["encoding"] = "posterior mean × scaling_factor; slot 1 = horizontally flipped image",
        };
        foreach (var (k, v) in extraMetadata) metadata[k] = v;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string tmp = path + "." + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture) + ".tmp";
        SafetensorsWriter.Write(tmp, new Dictionary<string, Tensor> { ["latents"] = all }, metadata);
        File.Move(tmp, path, overwrite: true);
    }

    private static void Build(ImageCache images, AutoencoderKL vae, string key, string path, int batchSize, IProgress<ProgressInfo>? progress, CancellationToken cancel,
        IEnumerable<KeyValuePair<string, string>> extraMetadata)
    {
        long n = images.Count;
        int c = vae.Config.LatentChannels, r = images.Resolution / (1 << (vae.Config.NumLevels - 1));
        using var all = torch.empty([n, 2, c, r, r], ScalarType.Float32);
        progress?.Report(new ProgressInfo("cache latents", 0, (int)n));
        using (torch.no_grad())
        {
            vae.eval();
            for (long start = 0; start < n; start += batchSize)
            {
                cancel.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                long count = Math.Min(batchSize, n - start);
                var x = images.Batch(Enumerable.Range(0, (int)count).Select(i => start + i).ToArray());
                var z = vae.EncodeToLatents(x);
                var zf = vae.EncodeToLatents(x.flip(3));
                all.narrow(0, start, count).copy_(torch.stack([z, zf], 1));
                progress?.Report(new ProgressInfo("cache latents", (int)(start + count), (int)n));
            }
        }
        Write(all, key, path, images.Key, vae.Config.ScalingFactor, extraMetadata);
    }

    /// <summary>Latents of <paramref name="indices"/>, each from slot <paramref name="flip"/>[i] (0 or 1): [B, C, h, w].</summary>
    public Tensor Batch(long[] indices, Tensor flip)
    {
        using var scope = torch.NewDisposeScope();
        using var idx = torch.tensor(indices, dtype: ScalarType.Int64);
        var both = Latents.index_select(0, idx);                                          // [B, 2, C, h, w]
        var slot = flip.to_type(ScalarType.Int64).reshape(-1, 1, 1, 1, 1).expand(-1, 1, both.shape[2], both.shape[3], both.shape[4]);
        return both.gather(1, slot).squeeze(1).MoveToOuterDisposeScope();
    }

    public JsonObject Describe() => new() { ["key"] = Key, ["count"] = Count, ["scaling_factor"] = ScalingFactor };

    public void Dispose() => Latents.Dispose();
}
