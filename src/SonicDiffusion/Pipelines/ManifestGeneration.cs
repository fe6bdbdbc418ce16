using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Imaging;
using SonicDiffusion.Sharding;
using SonicDiffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Pipelines;

/// <summary>What one run of a manifest command (<see cref="ManifestGeneration.Run"/>, <see cref="ManifestEditing.Run"/>) did with the rows of its shard.</summary>
public sealed record ManifestGenerationResult(int Rows, int Written, int Skipped, int Failed, IReadOnlyList<string> Files);

/// <summary>One row's work for <see cref="ManifestGeneration.RunRows"/>: its PNG text chunks (the hash is added), what makes its image (checking its input files first), and the done-list fields besides key, parameters and row.</summary>
public sealed record ManifestRowWork(List<KeyValuePair<string, string>> Metadata, Func<Tensor> Make, JsonObject DoneFields);

/// <summary>
/// <c>sonic generate --data manifest.jsonl</c>: one image per manifest row (columns: audio, optional prompt, seed, label).
/// Row k (0-based, in file order) is made by shard k mod N, with the row's seed or --seed + k, into
/// <see cref="FileName"/> — a name that depends on the row alone, so every shard agrees on it and no two rows share it.
/// Each PNG is written atomically, carries a hash of every generation parameter (text chunk <c>parameters_hash</c>) and
/// is then recorded in the shard's done-list (<c>generate-I-of-N.done.jsonl</c>); a re-run, by any shard count, skips
/// rows whose PNG exists with the same parameters (a killed shard resumes where it stopped) and redoes the others.
/// </summary>
public static class ManifestGeneration
{
    public static DatasetManifest ReadManifest(string path) => ReadManifest(path, ["audio"]);

    /// <summary>A manifest with the given required columns and at least one usable row.</summary>
    public static DatasetManifest ReadManifest(string path, string[] required)
    {
        var manifest = DatasetManifest.Read(path, required);
        if (manifest.Rows.Count == 0)
            throw new SonicException(manifest.Issues.Count > 0 ? $"{path}: no usable rows (first problem: {manifest.Issues[0]})" : $"{path}: no rows");
        return manifest;
    }

    public static string DoneListName(ShardSpec shard) => $"generate-{shard.Tag}.done.jsonl";

    /// <summary>"00042-rain-thunder_03.png": the row's index, its label (if any) and its sound's file name, made safe for any file system.</summary>
    public static string FileName(int index, ManifestRow row)
    {
        string stem = Path.GetFileNameWithoutExtension(row.Audio.Replace('\\', '/'));
        string label = row.Label.Length > 0 ? Safe(row.Label) + "-" : "";
        return string.Create(CultureInfo.InvariantCulture, $"{index:D5}-{label}{Safe(stem)}.png");
    }

    /// <summary>A file-name piece: ASCII letters, digits, '-', '_' and '.' kept, anything else '_', at most 60 characters.</summary>
    public static string Safe(string s)
    {
        var b = new StringBuilder(s.Length);
        foreach (char c in s) b.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '_');
        return b.Length > 60 ? b.ToString(0, 60) : b.ToString();
    }

    /// <summary>The row's request: its sound, its prompt (else the base request's) and its seed (else base seed + index).</summary>
    public static AudioToImageRequest RequestFor(DatasetManifest manifest, int index, AudioToImageRequest baseRequest) =>
        baseRequest with { Audio = manifest.AudioPath(manifest.Rows[index]), Prompt = manifest.Rows[index].Text("prompt") ?? baseRequest.Prompt, Seed = SeedOf(manifest, index, baseRequest.Seed) };

    /// <summary>The row's "seed" column, else <paramref name="baseSeed"/> + its index.</summary>
    public static long SeedOf(DatasetManifest manifest, int index, long baseSeed)
    {
        var row = manifest.Rows[index];
        if (!row.Extra.ContainsKey("seed")) return baseSeed + index;
        if (row.Number("seed") is not { } s || s != Math.Floor(s) || Math.Abs(s) > 1e15)
            throw new SonicException($"{manifest.FilePath}: line {row.Line}: seed '{row.Text("seed")}' is not an integer");
        return (long)s;
    }

    /// <summary>Hash of every PNG text chunk of a request (all parameters, the model and its files).</summary>
    public static string ParameterHash(IEnumerable<KeyValuePair<string, string>> metadata)
    {
        var key = new CacheKey();
        foreach (var (k, v) in metadata) key.Add(k).Add(v);
        return key.Finish()[..16];
    }

    public const string HashChunk = "parameters_hash";

    /// <summary>True when <paramref name="path"/> is a complete PNG made with the parameters of <paramref name="hash"/>.</summary>
    public static bool Finished(string path, string hash)
    {
        if (!File.Exists(path)) return false;
        try { return PngText.Read(path).TryGetValue(HashChunk, out var h) && h == hash; }
        catch (Exception e) when (e is SonicException or IOException or InvalidDataException) { return false; }
    }

    public static ManifestGenerationResult Run(AudioToImagePipeline pipeline, DatasetManifest manifest, AudioToImageRequest baseRequest, ShardSpec shard, string outDir,
        IProgress<ProgressInfo>? progress = null, Action<string>? log = null, CancellationToken ct = default) =>
        RunRows(manifest, shard, outDir, DoneListName(shard), FileName, k =>
        {
            var row = manifest.Rows[k];
            var req = RequestFor(manifest, k, baseRequest);
            var meta = pipeline.Metadata(req).Append(new("software", "SonicDiffusion.NET generate")).ToList();
            return new ManifestRowWork(meta, () =>
            {
                if (!File.Exists(manifest.AudioPath(row))) throw new SonicException($"{manifest.FilePath}: line {row.Line}: sound file {manifest.AudioPath(row)} not found");
                return pipeline.Generate(req, null, ct);
            }, new JsonObject { ["seed"] = req.Seed });
        }, progress, log, ct);

    /// <summary>
    /// The loop of the manifest commands: rows k mod N = I of <paramref name="shard"/>, each into the PNG
    /// <paramref name="fileName"/>(k, row) with its parameters and their hash; a row whose PNG exists with the same
    /// hash is skipped, a finished one goes to the done-list, a row that fails (one line in the log) does not stop the rest.
    /// </summary>
    public static ManifestGenerationResult RunRows(DatasetManifest manifest, ShardSpec shard, string outDir, string doneListName, Func<int, ManifestRow, string> fileName,
        Func<int, ManifestRowWork> work, IProgress<ProgressInfo>? progress, Action<string>? log, CancellationToken ct)
    {
        Directory.CreateDirectory(outDir);
        using var done = DoneList.Open(Path.Combine(outDir, doneListName));
        var mine = shard.Items(manifest.Rows.Count).ToList();
        int written = 0, skipped = 0, failed = 0, n = 0;
        var files = new List<string>();
        progress?.Report(new ProgressInfo("rows", 0, mine.Count));
        foreach (int k in mine)
        {
            ct.ThrowIfCancellationRequested();
            var row = manifest.Rows[k];
            string name = fileName(k, row), path = Path.Combine(outDir, name);
            try
            {
                var job = work(k);
                var meta = job.Metadata.Append(new("manifest_row", k.ToString(CultureInfo.InvariantCulture))).ToList();
                string hash = ParameterHash(meta);
                meta.Add(new(HashChunk, hash));
                if (Finished(path, hash)) skipped++;
                else
                {
                    using var image = job.Make();
                    ImageTensor.SavePng(image, path, meta);
                    var entry = new JsonObject { ["key"] = name, ["parameters"] = hash, ["row"] = k };
                    foreach (var (key, value) in job.DoneFields) entry[key] = value?.DeepClone();
                    done.Add(entry);
                    written++;
                }
                files.Add(path);
            }
            catch (SonicException e)
            {
                failed++;
                log?.Invoke($"skipped row {k} (line {row.Line}): {e.Message}");
            }
            progress?.Report(new ProgressInfo("rows", ++n, mine.Count, name));
        }
        return new ManifestGenerationResult(mine.Count, written, skipped, failed, files);
    }
}
