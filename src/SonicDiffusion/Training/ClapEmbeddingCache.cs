using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Sharding;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// The frozen CLAP audio encoder's embeddings of a manifest's clips, computed once: float32 [N·K, d] (entry = clip·K +
/// crop, K crops per clip), exactly what inference feeds the projector (the encoder's output, L2-normalised when the
/// encoder config says so). Crops follow <see cref="MelCache"/>'s policy (<see cref="MelCache.Fit"/>): crop 0 is what
/// inference computes, the others are evenly spaced windows of a long clip or loop phases of a short one. The front end
/// is the encoder folder's <c>config.json</c> "front_end" when present (the mini world's encoder), else the one its
/// Cnn14 sizes imply (CLAP 2022). Clips that cannot be decoded are skipped and counted. The file is named after a key of
/// the encoder folder's config and weights bytes, the front end, K and the rows' (line, audio path, size, mtime), so new
/// encoder weights give a new cache.
/// </summary>
public sealed class ClapEmbeddingCache : IDisposable
{
    public const string Format = "sonic-clap-cache/1";
    private const long ShardEntries = 4096;

    private readonly ShardedRows _store;

    public IReadOnlyList<ManifestRow> Rows { get; }
    public int CropsPerClip { get; }
    public int Dim => (int)_store.RowShape[0];
    public string Key { get; }
    public string FilePath => _store.FilePath;
    public int Skipped { get; }
    public long Count => (long)Rows.Count * CropsPerClip;

    private ClapEmbeddingCache(ShardedRows store, IReadOnlyList<ManifestRow> rows, int crops, string key, int skipped)
    {
        _store = store;
        Rows = rows;
        CropsPerClip = crops;
        Key = key;
        Skipped = skipped;
    }

    /// <summary>
    /// Loads an audio encoder folder (config.json = Cnn14Config [+ "front_end"], weights with or without the
    /// <c>audio_encoder.</c> prefix): the encoder (float32, eval) and the front-end config inference must use with it.
    /// </summary>
    public static (ClapAudioEncoder Encoder, ClapFrontEndConfig FrontEnd) LoadEncoder(string dir)
    {
        var (config, frontEnd) = ReadConfig(dir);
        string file = StableDiffusionComponents.FindWeights(dir);
        using var src = TensorFiles.Open(file);
        bool prefixed = src.Names.All(n => n.StartsWith(CheckpointConverter.ClapAudioPrefix, StringComparison.Ordinal));
        var weights = prefixed ? CheckpointConverter.ReadAudioWeights(src, ScalarType.Float32) : src.Names.ToDictionary(n => n, n => src.Read(n, ScalarType.Float32));
        var encoder = new ClapAudioEncoder(config);
        try { encoder.LoadWeights(weights, file); }
        catch { encoder.Dispose(); throw; }
        finally { foreach (var t in weights.Values) t.Dispose(); }
        encoder.eval();
        return (encoder, frontEnd);
    }

    /// <summary>The Cnn14 config of an encoder folder and the front end inference uses with it ("front_end" in config.json, else the one the sizes imply).</summary>
    public static (Cnn14Config Config, ClapFrontEndConfig FrontEnd) ReadConfig(string dir)
    {
        string cfgPath = Path.Combine(dir, "config.json");
        if (!File.Exists(cfgPath)) throw new SonicException($"{dir}: audio encoder folder has no config.json");
        string json = File.ReadAllText(cfgPath);
        var config = Cnn14Config.FromJson(json, cfgPath);
        var frontEndNode = JsonNode.Parse(json)?["front_end"];
        return (config, frontEndNode is null ? config.FrontEnd() : ClapFrontEndConfig.FromJson(frontEndNode.ToJsonString(), cfgPath + ": front_end"));
    }

    /// <summary>Key of an encoder folder: its config.json and weights bytes.</summary>
    public static string EncoderKey(string dir)
    {
        var key = new CacheKey().Add("audio_encoder");
        string cfg = Path.Combine(dir, "config.json");
        if (File.Exists(cfg)) key.AddFileContents(cfg);
        return key.AddFileContents(StableDiffusionComponents.FindWeights(dir)).Finish();
    }

    public static string ComputeKey(DatasetManifest manifest, IReadOnlyList<ManifestRow> rows, string encoderKey, ClapFrontEndConfig frontEnd, int crops) =>
        new CacheKey().Add(Format).Add(encoderKey).Add(JsonSerializer.Serialize(frontEnd, ConfigJson.Options)).Add(crops)
            .AddRows(manifest, rows, r => r.Audio).Finish();

    /// <summary>Opens the embeddings of <paramref name="rows"/> under the encoder in <paramref name="encoderDir"/>, computing them first when absent.</summary>
    /// <remarks>With <paramref name="shard"/> (and no whole cache on disk yet), only the shard's rows (k mod N = I) are
    /// encoded, into a part of the whole cache (<see cref="CacheParts"/>), and that part is returned; the whole cache is
    /// later assembled from a complete set of parts instead of being encoded again.</remarks>
    public static ClapEmbeddingCache LoadOrBuild(DatasetManifest manifest, IReadOnlyList<ManifestRow> rows, string encoderDir, int crops, string cacheDir,
        IProgress<ProgressInfo>? progress = null, Action<string>? log = null, CancellationToken cancel = default, ShardSpec? shard = null)
    {
        if (crops < 1) throw new SonicException($"CLAP cache: crops per clip {crops} must be >= 1");
        if (rows.Count == 0) throw new SonicException($"{manifest.FilePath}: no rows to cache");
        string encoderKey = EncoderKey(encoderDir);
        var (_, frontEndConfig) = ReadConfig(encoderDir);
        string key = ComputeKey(manifest, rows, encoderKey, frontEndConfig, crops);
        string path = PathFor(cacheDir, crops, key);
        if (File.Exists(path))
        {
            log?.Invoke($"CLAP cache: {path}");
            return Open(manifest, path, key);
        }
        if (shard is { IsSharded: true })
        {
            var mine = shard.Items(rows.Count).Select(i => rows[i]).ToList();
            if (mine.Count == 0) throw new SonicException($"{shard}: no rows of the {rows.Count} to cache");
            string partKey = ComputeKey(manifest, mine, encoderKey, frontEndConfig, crops);
            string partPath = PathFor(cacheDir, crops, partKey);
            if (File.Exists(partPath)) log?.Invoke($"CLAP cache: {partPath} ({shard}, already there)");
            else
            {
                var (encoder, _) = LoadEncoder(encoderDir);
                using (encoder) Build(manifest, mine, encoder, frontEndConfig, crops, partKey, partPath, progress, log, cancel, CacheParts.Metadata(key, shard));
            }
            return Open(manifest, partPath, partKey);
        }
        if (CacheParts.FindComplete(cacheDir, $"clap-{crops}x-*.safetensors", key, "CLAP cache", log) is { } parts)
            Assemble(manifest, rows, parts, frontEndConfig, crops, key, path, log);
        else
        {
            var (encoder, _) = LoadEncoder(encoderDir);
            using (encoder) Build(manifest, rows, encoder, frontEndConfig, crops, key, path, progress, log, cancel, []);
        }
        return Open(manifest, path, key);
    }

    private static string PathFor(string cacheDir, int crops, string key) => Path.Combine(cacheDir, $"clap-{crops}x-{key[..16]}.safetensors");

    /// <summary>The whole cache from a complete set of parts: each row's crops copied from the part that encoded it, in the rows' order.</summary>
    private static void Assemble(DatasetManifest manifest, IReadOnlyList<ManifestRow> rows, IReadOnlyList<CacheParts.Part> parts, ClapFrontEndConfig config,
        int crops, string key, string path, Action<string>? log)
    {
        var opened = new List<ClapEmbeddingCache>();
        try
        {
            var where = new Dictionary<int, (ClapEmbeddingCache Part, long Index)>();
            foreach (var p in parts)
            {
                var part = Open(manifest, p.Path, p.Key);
                opened.Add(part);
                if (part.CropsPerClip != crops) throw new SonicException($"{p.Path}: a part with {part.CropsPerClip} crops per clip, not {crops} (delete it to rebuild)");
                for (int i = 0; i < part.Rows.Count; i++) where[part.Rows[i].Line] = (part, i);
            }
            var kept = rows.Where(r => where.ContainsKey(r.Line)).ToList();
            if (kept.Count == 0) throw new SonicException($"{manifest.FilePath}: none of the {rows.Count} audio files could be decoded (see the parts' logs)");
            long dim = opened[0].Dim;
            Tensor Produce(long first, long n)
            {
                var pieces = new List<Tensor>();
                try
                {
                    for (long e = first; e < first + n; e++)
                    {
                        var (part, index) = where[kept[(int)(e / crops)].Line];
                        pieces.Add(part.Read([index * crops + e % crops]));
                    }
                    return torch.cat(pieces, 0);
                }
                finally { foreach (var t in pieces) t.Dispose(); }
            }
            Write(manifest, kept.Select(r => r.Line).ToArray(), (long)kept.Count * crops, dim, Produce, config, crops, rows.Count - kept.Count, key, path,
                [new("assembled_from", string.Join(",", parts.Select(p => Path.GetFileName(p.Path))))]);
            log?.Invoke($"CLAP cache: assembled {kept.Count} clips × {crops} crops from {parts.Count} shard parts into {path}");
        }
        finally { foreach (var c in opened) c.Dispose(); }
    }

    private static ClapEmbeddingCache Open(DatasetManifest manifest, string path, string key)
    {
        IReadOnlyList<ManifestRow> rows;
        int crops, skipped;
        using (var file = SafetensorsFile.Open(path))
        {
            if (!file.Metadata.TryGetValue("key", out var stored) || stored != key)
                throw new SonicException($"{path}: CLAP cache key does not match its name (damaged file; delete it to rebuild)");
            crops = int.Parse(file.Metadata["crops"], CultureInfo.InvariantCulture);
            skipped = int.Parse(file.Metadata["skipped"], CultureInfo.InvariantCulture);
            using var lines = file.Read("lines");
            rows = RowsOfLines(manifest, lines, path);
        }
        var store = ShardedRows.Open(path, "emb");
        if (store.Count != (long)rows.Count * crops)
        {
            store.Dispose();
            throw new SonicException($"{path}: holds {store.Count} embeddings for {rows.Count} clips × {crops} crops (damaged file; delete it to rebuild)");
        }
        return new ClapEmbeddingCache(store, rows, crops, key, skipped);
    }

    internal static IReadOnlyList<ManifestRow> RowsOfLines(DatasetManifest manifest, Tensor lines, string path)
    {
        var byLine = manifest.Rows.ToDictionary(r => r.Line);
        return lines.data<int>().ToArray().Select(l => byLine.TryGetValue(l, out var r) ? r
            : throw new SonicException($"{path}: cached manifest line {l} is not in {manifest.FilePath} (delete the cache to rebuild)")).ToList();
    }

    private static void Build(DatasetManifest manifest, IReadOnlyList<ManifestRow> rows, ClapAudioEncoder encoder, ClapFrontEndConfig config, int crops,
        string key, string path, IProgress<ProgressInfo>? progress, Action<string>? log, CancellationToken cancel, IEnumerable<KeyValuePair<string, string>> extraMetadata)
    {
        using var frontEnd = FrontEndFor(encoder, config);
        var embeddings = new List<Tensor>();
        var kept = new List<int>();
        string? firstError = null;
        progress?.Report(new ProgressInfo("cache CLAP", 0, rows.Count));
        try
        {
            for (int i = 0; i < rows.Count; i++)
            {
                cancel.ThrowIfCancellationRequested();
                try
                {
                    embeddings.Add(Embed(encoder, frontEnd, manifest.AudioPath(rows[i]), crops));
                    kept.Add(rows[i].Line);
                }
                catch (SonicException e) { firstError ??= $"{manifest.FilePath}:{rows[i].Line}: {e.Message}"; }
                progress?.Report(new ProgressInfo("cache CLAP", i + 1, rows.Count));
            }
            int skipped = rows.Count - kept.Count;
            if (skipped > 0) log?.Invoke($"CLAP cache: skipped {skipped} of {rows.Count} clips that cannot be decoded (first: {firstError})");
            if (kept.Count == 0) throw new SonicException($"{manifest.FilePath}: none of the {rows.Count} audio files could be decoded (first: {firstError})");
            using var all = torch.cat(embeddings, 0);
            Write(manifest, kept.ToArray(), all.shape[0], all.shape[1], (s, n) => all.narrow(0, s, n).alias(), config, crops, skipped, key, path, extraMetadata);
            log?.Invoke($"CLAP cache: wrote {kept.Count} clips × {crops} crops ({all.shape[1]}-d) to {path}");
        }
        finally { foreach (var t in embeddings) t.Dispose(); }
    }

    private static void Write(DatasetManifest manifest, int[] lines, long entryCount, long dim, Func<long, long, Tensor> produce, ClapFrontEndConfig config, int crops,
        int skipped, string key, string path, IEnumerable<KeyValuePair<string, string>> extraMetadata)
    {
        var entries = new List<SafetensorsWriter.Entry>
        {
            new("lines", "I32", [lines.Length], () => torch.tensor(lines, dtype: ScalarType.Int32), true),
        };
        entries.AddRange(ShardedRows.Entries("emb", entryCount, [dim], ShardEntries, ScalarType.Float32, produce));
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["key"] = key,
            ["crops"] = crops.ToString(CultureInfo.InvariantCulture),
            ["skipped"] = skipped.ToString(CultureInfo.InvariantCulture),
            ["manifest"] = manifest.FilePath,
            ["front_end"] = JsonSerializer.Serialize(config, new JsonSerializerOptions(ConfigJson.Options) { WriteIndented = false }),
            ["layout"] = "entry = clip * crops + crop; crop 0 = the inference window (MelCache.Fit policy)",
        };
        foreach (var (k, v) in extraMetadata) metadata[k] = v;
        WriteAtomically(path, entries, metadata);
    }

    /// <summary>The front end inference builds for this encoder: the checkpoint's STFT/mel tensors when it has them.</summary>
    public static ClapFrontEnd FrontEndFor(ClapAudioEncoder encoder, ClapFrontEndConfig config) =>
        encoder.FrontEndLoaded ? new ClapFrontEnd(config, encoder.MelW, encoder.StftReal, encoder.StftImag) : new ClapFrontEnd(config);

    /// <summary>The K crop embeddings of one audio file: [K, d].</summary>
    public static Tensor Embed(ClapAudioEncoder encoder, ClapFrontEnd frontEnd, string audioPath, int crops)
    {
        var clip = AudioReader.Read(audioPath);
        if (clip.FrameCount == 0) throw new SonicException($"{audioPath}: no samples");
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        var mono = torch.tensor(clip.ToMono()).unsqueeze(0);
        if (!mono.isfinite().all().item<bool>()) throw new SonicException($"{audioPath}: audio holds NaN or infinite samples");
        var wave = Resampler.Resample(mono, clip.SampleRate, frontEnd.Config.SampleRate, frontEnd.Config.Resample).reshape(-1).contiguous();
        long n = frontEnd.Config.NumSamples;
        var windows = torch.stack(Enumerable.Range(0, crops).Select(k => MelCache.Fit(wave, n, k, crops)).ToArray(), 0);
        var logmel = frontEnd.LogMel(windows);
        return encoder.forward(logmel).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    internal static void WriteAtomically(string path, IEnumerable<SafetensorsWriter.Entry> entries, IReadOnlyDictionary<string, string> metadata)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        string tmp = path + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + ".tmp";
        SafetensorsWriter.Write(tmp, entries, metadata);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>Embeddings of the given entries (clip·K + crop): float32 [B, d].</summary>
    public Tensor Read(long[] entries) => _store.Read(entries);

    public JsonObject Describe() => new() { ["key"] = Key, ["clips"] = Rows.Count, ["crops"] = CropsPerClip, ["dim"] = Dim };

    public void Dispose() => _store.Dispose();
}
