using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
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
    public static LatentCache LoadOrBuild(ImageCache images, string vaeDir, string cacheDir, int batchSize = 32,
        IProgress<ProgressInfo>? progress = null, Action<string>? log = null, CancellationToken cancel = default)
    {
        string key = ComputeKey(images.Key, VaeKey(vaeDir));
        string path = Path.Combine(cacheDir, $"latents-{images.Resolution}-{key[..16]}.safetensors");
        if (!File.Exists(path))
        {
            using var vae = ModelExport.LoadVae(vaeDir);
            Build(images, vae, key, path, batchSize, progress, cancel);
            log?.Invoke($"latent cache: wrote {images.Count} × 2 latents to {path}");
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

    private static void Build(ImageCache images, AutoencoderKL vae, string key, string path, int batchSize, IProgress<ProgressInfo>? progress, CancellationToken cancel)
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
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["latents"] = all }, new Dictionary<string, string>
        {
            ["format"] = Format,
            ["key"] = key,
            ["image_cache"] = images.Key,
            ["scaling_factor"] = vae.Config.ScalingFactor.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
            ["encoding"] = "posterior mean × scaling_factor; slot 1 = horizontally flipped image",
        });
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
