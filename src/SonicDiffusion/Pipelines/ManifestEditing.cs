using System.Globalization;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Sharding;

namespace SonicDiffusion.Pipelines;

/// <summary>
/// <c>sonic edit --data pairs.jsonl</c>: one edit per manifest row (columns: image, and audio or prompt; optional seed,
/// label). Row k (0-based, in file order) is edited by shard k mod N into <see cref="FileName"/>, a name that depends on
/// the row alone. As <see cref="ManifestGeneration"/>: each PNG is written atomically with a hash of every parameter,
/// then recorded in the shard's done-list (<c>edit-I-of-N.done.jsonl</c>); a re-run skips rows whose PNG exists with
/// the same parameters. Inversions go through the pipeline's inversion cache (atomic per-process writes), so rows that
/// share a photo, in any shard, invert it once when the shards share the cache folder.
/// </summary>
public static class ManifestEditing
{
    public static DatasetManifest ReadManifest(string path) => ManifestGeneration.ReadManifest(path, ["image"]);

    public static string DoneListName(ShardSpec shard) => $"edit-{shard.Tag}.done.jsonl";

    /// <summary>"00042-thunder-photo_07-storm.png": the row's index, its label (if any), its photo's and its sound's file names (or "text").</summary>
    public static string FileName(int index, ManifestRow row)
    {
        string image = ManifestGeneration.Safe(Path.GetFileNameWithoutExtension(row.Image.Replace('\\', '/')));
        string sound = row.Audio.Length > 0 ? ManifestGeneration.Safe(Path.GetFileNameWithoutExtension(row.Audio.Replace('\\', '/'))) : "text";
        string label = row.Label.Length > 0 ? ManifestGeneration.Safe(row.Label) + "-" : "";
        return string.Create(CultureInfo.InvariantCulture, $"{index:D5}-{label}{image}-{sound}.png");
    }

    /// <summary>The row's request: its photo, its sound (none = text-only PnP with the prompt), its prompt (else the base request's) and seed.</summary>
    public static ImageEditRequest RequestFor(DatasetManifest manifest, int index, ImageEditRequest baseRequest)
    {
        var row = manifest.Rows[index];
        var req = baseRequest with
        {
            Image = manifest.ImagePath(row), Audio = row.Audio.Length > 0 ? manifest.AudioPath(row) : null,
            Prompt = row.Text("prompt") ?? baseRequest.Prompt, Seed = ManifestGeneration.SeedOf(manifest, index, baseRequest.Seed),
        };
        if (req.TextOnly && string.IsNullOrWhiteSpace(req.Prompt))
            throw new SonicException($"{manifest.FilePath}: line {row.Line}: no audio and no prompt (a row needs a sound, or a prompt for a text-only edit)");
        return req;
    }

    public static ManifestGenerationResult Run(ImageEditPipeline pipeline, DatasetManifest manifest, ImageEditRequest baseRequest, ShardSpec shard, string outDir,
        IProgress<ProgressInfo>? progress = null, Action<string>? log = null, CancellationToken ct = default) =>
        ManifestGeneration.RunRows(manifest, shard, outDir, DoneListName(shard), FileName, k =>
        {
            var row = manifest.Rows[k];
            var req = RequestFor(manifest, k, baseRequest);
            var meta = pipeline.Metadata(req).Append(new("software", "SonicDiffusion.NET edit")).ToList();
            return new ManifestRowWork(meta, () =>
            {
                if (!File.Exists(req.Image)) throw new SonicException($"{manifest.FilePath}: line {row.Line}: image file {req.Image} not found");
                if (req.Audio is { } a && !File.Exists(a)) throw new SonicException($"{manifest.FilePath}: line {row.Line}: sound file {a} not found");
                return pipeline.Edit(req, null, ct);
            }, []);
        }, progress, log, ct);
}
