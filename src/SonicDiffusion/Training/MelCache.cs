using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Win32.SafeHandles;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// Log-mel spectrograms of a manifest's clips, computed once with a <see cref="ClapFrontEnd"/> and stored as float16
/// [N·K, T, n_mels] (K crops per clip, entry = clip·K + crop) in a sharded safetensors file; batches are read from
/// disk on demand, so the cache never has to fit in memory.
/// <para>Crop policy (<see cref="CropStart"/> / <see cref="Fit"/>), with N = the front end's samples per clip and L the
/// clip length after resampling: crop 0 is exactly what inference computes (the start of the clip, repeat-padded when
/// L ≤ N). A clip longer than N gives K windows evenly spaced from its start to its end. A clip of at most N samples
/// (all of the synthetic world: 2–10 s against a 10 s window) gives K phases of the loop: crop k rotates the clip by
/// ⌊k·L/K⌋ samples before repeat-padding, so the same sound starts at a different point of its loop.</para>
/// <para>Clips that cannot be decoded are skipped and counted. The file name is a key of the front-end config, K and
/// the rows' (line, audio path, size, modification time).</para>
/// </summary>
public sealed class MelCache : IDisposable
{
    public const string Format = "sonic-mel-cache/1";
    private const int ShardClips = 256;

    private readonly SafeFileHandle _handle;
    private readonly long[] _shardOffsets;
    private readonly long _entryBytes;

    public IReadOnlyList<ManifestRow> Rows { get; }
    public int CropsPerClip { get; }
    public long Frames { get; }
    public int MelBins { get; }
    public string Key { get; }
    public string FilePath { get; }
    public int Skipped { get; }

    /// <summary>Entries (clip × crop).</summary>
    public long Count => (long)Rows.Count * CropsPerClip;

    private MelCache(string path, SafeFileHandle handle, long[] shardOffsets, IReadOnlyList<ManifestRow> rows, int crops, long frames, int mels, string key, int skipped)
    {
        FilePath = path;
        _handle = handle;
        _shardOffsets = shardOffsets;
        Rows = rows;
        CropsPerClip = crops;
        Frames = frames;
        MelBins = mels;
        Key = key;
        Skipped = skipped;
        _entryBytes = frames * mels * 2;
    }

    public static string ComputeKey(DatasetManifest manifest, IReadOnlyList<ManifestRow> rows, ClapFrontEndConfig frontEnd, int crops, AudioAugmentation? augment = null)
    {
        var key = new CacheKey().Add(Format).Add(JsonSerializer.Serialize(frontEnd, ConfigJson.Options)).Add(crops);
        if (augment is not null) key.Add("augment").Add(augment.Describe());
        return key.AddRows(manifest, rows, r => r.Audio).Finish();
    }

    /// <summary>First sample of crop <paramref name="crop"/> of <paramref name="crops"/> for a clip longer than <paramref name="numSamples"/>.</summary>
    public static long CropStart(long length, long numSamples, int crop, int crops) =>
        length <= numSamples || crops <= 1 ? 0 : (long)Math.Round(crop * (length - numSamples) / (double)(crops - 1));

    /// <summary>Crop <paramref name="crop"/> of a prepared (mono, resampled) 1-D waveform, fitted to <paramref name="numSamples"/>.</summary>
    public static Tensor Fit(Tensor wave, long numSamples, int crop, int crops)
    {
        long length = wave.shape[0];
        if (length > numSamples) return ClapFrontEnd.FitToLength(wave, numSamples, CropStart(length, numSamples, crop, crops));
        long shift = crop * length / Math.Max(1, crops);
        if (shift == 0) return ClapFrontEnd.FitToLength(wave, numSamples);
        using var rotated = torch.cat([wave.narrow(0, shift, length - shift), wave.narrow(0, 0, shift)], 0);
        return ClapFrontEnd.FitToLength(rotated, numSamples);
    }

    /// <summary>
    /// Opens the cache for these rows, computing it first when absent. With <paramref name="augment"/>, crops 1…K−1 of
    /// every clip are augmented copies (crop 0 stays what inference computes).
    /// </summary>
    public static MelCache LoadOrBuild(DatasetManifest manifest, IReadOnlyList<ManifestRow> rows, ClapFrontEndConfig frontEnd, int crops, string cacheDir,
        IProgress<ProgressInfo>? progress = null, Action<string>? log = null, int threads = 2, CancellationToken cancel = default, AudioAugmentation? augment = null)
    {
        if (crops < 1) throw new SonicException($"mel cache: crops per clip {crops} must be >= 1");
        if (rows.Count == 0) throw new SonicException($"{manifest.FilePath}: no rows to cache");
        frontEnd.Validate();
        string key = ComputeKey(manifest, rows, frontEnd, crops, augment);
        string path = Path.Combine(cacheDir, $"mels-{crops}x-{key[..16]}.safetensors");
        if (!File.Exists(path)) Build(manifest, rows, frontEnd, crops, key, path, progress, log, threads, cancel, augment);
        else log?.Invoke($"mel cache: {path}");
        return Open(manifest, path, key);
    }

    private static MelCache Open(DatasetManifest manifest, string path, string key)
    {
        using var file = SafetensorsFile.Open(path);
        if (!file.Metadata.TryGetValue("key", out var stored) || stored != key)
            throw new SonicException($"{path}: mel cache key does not match its name (damaged file; delete it to rebuild)");
        int crops = int.Parse(file.Metadata["crops"], System.Globalization.CultureInfo.InvariantCulture);
        int skipped = int.Parse(file.Metadata["skipped"], System.Globalization.CultureInfo.InvariantCulture);
        var byLine = manifest.Rows.ToDictionary(r => r.Line);
        using var lines = file.Read("lines");
        var rows = lines.data<int>().ToArray().Select(l => byLine.TryGetValue(l, out var r) ? r
            : throw new SonicException($"{path}: cached manifest line {l} is not in {manifest.FilePath} (delete the cache to rebuild)")).ToList();
        var shards = file.Names.Where(n => n.StartsWith("mels.", StringComparison.Ordinal)).OrderBy(n => n, StringComparer.Ordinal).ToList();
        if (shards.Count != (rows.Count + ShardClips - 1) / ShardClips)
            throw new SonicException($"{path}: has {shards.Count} mel shards for {rows.Count} clips (damaged file; delete it to rebuild)");
        long dataStart;
        using (var fs = File.OpenRead(path))
        {
            Span<byte> len = stackalloc byte[8];
            fs.ReadExactly(len);
            dataStart = 8 + BitConverter.ToInt64(len);
        }
        var first = file.Entries[shards[0]];
        var offsets = shards.Select(s => dataStart + file.Entries[s].Begin).ToArray();
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        return new MelCache(path, handle, offsets, rows, crops, first.Shape[1], (int)first.Shape[2], key, skipped);
    }

    private static void Build(DatasetManifest manifest, IReadOnlyList<ManifestRow> rows, ClapFrontEndConfig config, int crops, string key, string path,
        IProgress<ProgressInfo>? progress, Action<string>? log, int threads, CancellationToken cancel, AudioAugmentation? augment)
    {
        using var frontEnd = new ClapFrontEnd(config);
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads), CancellationToken = cancel };

        // Pass 1: which clips decode (decoding is cheap next to the spectrograms, and the file's shapes must be known up front).
        var ok = new bool[rows.Count];
        var errors = new string?[rows.Count];
        Parallel.For(0, rows.Count, options, i =>
        {
            try
            {
                ok[i] = AudioReader.Read(manifest.AudioPath(rows[i])).FrameCount > 0;
                if (!ok[i]) errors[i] = $"{manifest.AudioPath(rows[i])}: no samples";
            }
            catch (SonicException e) { errors[i] = e.Message; }
        });
        var keep = Enumerable.Range(0, rows.Count).Where(i => ok[i]).ToList();
        int skipped = rows.Count - keep.Count;
        if (skipped > 0)
        {
            int bad = Array.FindIndex(errors, e => e != null);
            log?.Invoke($"mel cache: skipped {skipped} of {rows.Count} clips that cannot be decoded (first: {manifest.FilePath}:{rows[bad].Line}: {errors[bad]})");
        }
        if (keep.Count == 0) throw new SonicException($"{manifest.FilePath}: none of the {rows.Count} audio files could be decoded");

        long frames = config.Frames(config.NumSamples);
        int shards = (keep.Count + ShardClips - 1) / ShardClips;
        int done = 0;
        progress?.Report(new ProgressInfo("cache mels", 0, keep.Count));
        var entries = new List<SafetensorsWriter.Entry>
        {
            new("lines", "I32", [keep.Count], () => torch.tensor(keep.Select(i => rows[i].Line).ToArray(), dtype: ScalarType.Int32), true),
        };
        for (int s = 0; s < shards; s++)
        {
            int first = s * ShardClips, count = Math.Min(ShardClips, keep.Count - first);
            entries.Add(new SafetensorsWriter.Entry($"mels.{s:D5}", "F16", [(long)count * crops, frames, config.NMels], () =>
            {
                var shard = torch.empty([(long)count * crops, frames, config.NMels], ScalarType.Float16);
                Parallel.For(0, count, options, j =>
                {
                    using var scope = torch.NewDisposeScope();
                    var row = rows[keep[first + j]];
                    var full = PreparedFull(frontEnd, manifest.AudioPath(row));
                    var crop = torch.stack(Enumerable.Range(0, crops).Select(k => augment is null || k == 0
                        ? Fit(full, config.NumSamples, k, crops)
                        : Augmented(augment, Fit(full, config.NumSamples, k, crops), row, k, rng => Background(frontEnd, manifest, rows, keep, row, rng))).ToArray(), 0);
                    var mel = frontEnd.LogMel(crop);                                           // [K, 1, T, M]
                    shard.narrow(0, (long)j * crops, crops).copy_(mel.squeeze(1).to_type(ScalarType.Float16));
                    int n = Interlocked.Increment(ref done);
                    progress?.Report(new ProgressInfo("cache mels", n, keep.Count));
                });
                return shard;
            }, true));
        }
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        SafetensorsWriter.Write(path, entries, new Dictionary<string, string>
        {
            ["format"] = Format,
            ["key"] = key,
            ["crops"] = crops.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["skipped"] = skipped.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["manifest"] = manifest.FilePath,
            ["front_end"] = JsonSerializer.Serialize(config, new JsonSerializerOptions(ConfigJson.Options) { WriteIndented = false }),
            ["layout"] = "entry = clip * crops + crop; shards of 256 clips; float16 [entries, frames, n_mels]",
        });
        log?.Invoke($"mel cache: wrote {keep.Count} clips × {crops} crops to {path}"
            + (augment is null ? "" : $" (crops 1-{crops - 1} augmented{(augment.HasCodec ? "" : "; no ffmpeg, so no codec round trips")})"));
    }

    private static Tensor Augmented(AudioAugmentation augment, Tensor crop, ManifestRow row, int k, Func<Data.World.WorldRandom, float[]?> background)
    {
        using (crop)
            return torch.tensor(augment.Apply(crop.data<float>().ToArray(), (ulong)row.Line, k, background));
    }

    /// <summary>A random clip of another label than <paramref name="row"/>'s, prepared like the others, or null.</summary>
    private static float[]? Background(ClapFrontEnd frontEnd, DatasetManifest manifest, IReadOnlyList<ManifestRow> rows, List<int> keep, ManifestRow row,
        Data.World.WorldRandom rng)
    {
        for (int tries = 0; tries < 8; tries++)
        {
            var other = rows[keep[rng.Next(keep.Count)]];
            if (other.Label == row.Label) continue;
            using var wave = PreparedFull(frontEnd, manifest.AudioPath(other));
            return wave.data<float>().ToArray();
        }
        return null;
    }

    /// <summary>The whole clip as the front end prepares it (mono, resampled), not yet fitted: [L].</summary>
    private static Tensor PreparedFull(ClapFrontEnd frontEnd, string path)
    {
        var clip = AudioReader.Read(path);
        using var scope = torch.NewDisposeScope();
        var mono = torch.tensor(clip.ToMono()).unsqueeze(0);
        var resampled = Resampler.Resample(mono, clip.SampleRate, frontEnd.Config.SampleRate, frontEnd.Config.Resample);
        return resampled.reshape(-1).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Clip index (into <see cref="Rows"/>) of an entry.</summary>
    public int ClipOf(long entry) => (int)(entry / CropsPerClip);

    /// <summary>Log-mels of the given entries as float32 [B, 1, T, n_mels] (the encoder's input).</summary>
    public Tensor Read(long[] entries)
    {
        var buffer = new byte[entries.Length * _entryBytes];
        for (int i = 0; i < entries.Length; i++)
        {
            long e = entries[i];
            if (e < 0 || e >= Count) throw new ArgumentOutOfRangeException(nameof(entries), e, $"mel cache has {Count} entries");
            long clip = e / CropsPerClip;
            long shard = clip / ShardClips, within = e - shard * ShardClips * CropsPerClip;
            long offset = _shardOffsets[shard] + within * _entryBytes;
            var span = buffer.AsSpan((int)(i * _entryBytes), (int)_entryBytes);
            int read = 0;
            while (read < span.Length)
            {
                int n = RandomAccess.Read(_handle, span[read..], offset + read);
                if (n <= 0) throw new SonicException($"{FilePath}: unexpected end of file (damaged cache; delete it to rebuild)");
                read += n;
            }
        }
        using var half = torch.empty([entries.Length, 1, Frames, MelBins], ScalarType.Float16);
        buffer.CopyTo(half.bytes);
        return half.to_type(ScalarType.Float32);
    }

    public JsonObject Describe() => new() { ["key"] = Key, ["clips"] = Rows.Count, ["crops"] = CropsPerClip, ["frames"] = Frames, ["mel_bins"] = MelBins };

    public void Dispose() => _handle.Dispose();
}
