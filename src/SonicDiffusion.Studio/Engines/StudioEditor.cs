using SonicDiffusion.Core;
using SonicDiffusion.Imaging;
using SonicDiffusion.Pipelines;
using TorchSharp;

namespace SonicDiffusion.Studio.Engines;

/// <summary>
/// The studio's edits: the real <see cref="ImageEditPipeline"/> (DDIM inversion + Plug-and-Play injection, as
/// <c>sonic edit</c>), its UNet calls wrapped for previews. The checked upload is written under a server-made name in
/// the engine's private folder (the pipeline and its <see cref="InversionCache"/> key read files) and deleted after the
/// job; inversions are cached in <c>inversions/</c> there, at most <see cref="MaxCachedInversions"/> entries, the least
/// recently used evicted first. The source branch's features of the most recently edited cached inversion are kept in
/// memory, so the same photo edited again with another sound or prompt skips the source branch. Nothing the client
/// sent names a file.
/// </summary>
public sealed class StudioEditor : IDisposable
{
    private readonly ImageEditPipeline _pipeline;
    private readonly string _scratch;
    private readonly string _modelName;
    private PnpSourceFeatures? _sourceFeatures;

    /// <param name="scratch">the engine's private folder (created on first use, deleted by the engine)</param>
    /// <param name="maxCachedInversions">inversions kept on disk; 0 = no cache</param>
    /// <param name="create">makes the pipeline on the given cache (null when there is none)</param>
    public StudioEditor(string scratch, string modelName, int maxCachedInversions, Func<InversionCache?, ImageEditPipeline> create)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxCachedInversions);
        _scratch = scratch;
        _modelName = modelName;
        MaxCachedInversions = maxCachedInversions;
        InversionDirectory = Path.Combine(scratch, "inversions");
        _pipeline = create(maxCachedInversions > 0 ? new InversionCache(InversionDirectory) : null);
    }

    public int MaxCachedInversions { get; }
    public string InversionDirectory { get; }
    public ImageEditPipeline Pipeline => _pipeline;

    /// <summary>The source features kept for the last cached inversion edited (null without an inversion cache).</summary>
    public PnpSourceFeatures? SourceFeatures => _sourceFeatures;

    /// <summary>
    /// Edits <paramref name="request"/>'s image; <paramref name="soundFile"/> is the server-written sound (null: text-only
    /// PnP). Reports the inversion (phase "invert") and the edit (phase "edit") step by step, with previews.
    /// </summary>
    public StudioImage Edit(StudioEditRequest request, string? soundFile, IProgress<StudioProgress> progress, CancellationToken ct)
    {
        var g = request.Generation;
        if (soundFile is null && string.IsNullOrWhiteSpace(g.Prompt))
            throw new SonicException(_pipeline.Model is null
                ? "this model has no audio adapters: give a prompt to edit with text (text-only PnP)"
                : "give a sound ('audio' file or 'sample' id), or a prompt for a text-only edit");
        Directory.CreateDirectory(_scratch);
        var imagePath = Path.Combine(_scratch, Guid.NewGuid().ToString("N") + ".img");
        File.WriteAllBytes(imagePath, request.Image);
        try
        {
            var cfg = _pipeline.Model?.Adapters.Config;
            var req = new ImageEditRequest
            {
                Image = imagePath, Audio = soundFile, Prompt = g.Prompt, NegativePrompt = g.NegativePrompt, Steps = g.Steps,
                Guidance = g.Guidance, FeatureInjection = request.FeatureInjection, AttnInjection = request.AttnInjection,
                Beta = g.Beta, BetaSites = cfg is not null && g.Beta == cfg.Beta ? cfg.BetaSites : null, Seed = g.Seed, Fit = request.Fit,
                FeatureSites = request.FeatureSites,
            };
            req.Validate();
            using var mode = torch.inference_mode();
            using var source = _pipeline.Prepare(imagePath, req.Fit);
            var sd = _pipeline.Sd;
            var schedule = _pipeline.Scheduler().Schedule;
            var phases = new Phases(progress);
            var invertPreview = new LatentPreview(schedule, sd.Scheduler.PredictionType, g.PreviewEvery, req.Steps,
                (call, png) => progress.Report(new StudioProgress(call, req.Steps, png, StudioProgress.Invert)), showInput: true);
            var chain = _pipeline.Invert(source, req.Steps, phases, ct, invertPreview.Wrap);
            try
            {
                KeepCacheBounded();
                var editPreview = new LatentPreview(schedule, sd.Scheduler.PredictionType, g.PreviewEvery, req.Steps,
                    (call, png) => progress.Report(new StudioProgress(call, req.Steps, png, StudioProgress.EditPhase)));
                using var image = _pipeline.Edit(source, chain, req, phases, ct, editPreview.Wrap, SourceFeaturesFor(_pipeline.LastInversionKey));
                ct.ThrowIfCancellationRequested();
                var meta = _pipeline.Metadata(req)
                    .Select(kv => kv.Key switch
                    {
                        "source_image" => new KeyValuePair<string, string>("source_image", "upload"),
                        "audio" => new KeyValuePair<string, string>("audio", g.AudioLabel),
                        "model" => new KeyValuePair<string, string>("model", _modelName),
                        _ when kv.Key.StartsWith("model_", StringComparison.Ordinal) => new(kv.Key, Path.GetFileName(kv.Value)),
                        _ => kv,
                    })
                    .Concat(soundFile is null
                        ? [new("audio_conditioning", _pipeline.Model is null ? "none (plain Stable Diffusion model, text-only PnP)" : "none (text-only PnP)")]
                        : Array.Empty<KeyValuePair<string, string>>())
                    .Append(new("software", "SonicDiffusion.NET studio edit"))
                    .ToList();
                return new StudioImage(ImageTensor.EncodePng(image, meta), (int)image.shape[3], (int)image.shape[2], meta);
            }
            finally
            {
                foreach (var t in chain) t.Dispose();
            }
        }
        finally
        {
            File.Delete(imagePath);
            _pipeline.Audio?.ClearCache();
        }
    }

    /// <summary>The kept source features when they belong to <paramref name="inversionKey"/>, else fresh ones for it (null: nothing kept).</summary>
    private PnpSourceFeatures? SourceFeaturesFor(string? inversionKey)
    {
        if (_sourceFeatures?.SourceId == inversionKey && inversionKey is not null) return _sourceFeatures;
        _sourceFeatures?.Dispose();
        _sourceFeatures = inversionKey is null ? null : new PnpSourceFeatures(inversionKey);
        return _sourceFeatures;
    }

    public void Dispose()
    {
        _sourceFeatures?.Dispose();
        _sourceFeatures = null;
    }

    /// <summary>Marks the inversion just used as the newest and evicts the oldest beyond <see cref="MaxCachedInversions"/>.</summary>
    private void KeepCacheBounded()
    {
        if (_pipeline.Cache is not { } cache || !Directory.Exists(cache.Directory)) return;
        if (_pipeline.LastInversionKey is { } key && File.Exists(cache.PathOf(key)))
            File.SetLastWriteTimeUtc(cache.PathOf(key), DateTime.UtcNow);
        var entries = new DirectoryInfo(cache.Directory).GetFiles("*.safetensors").OrderByDescending(f => f.LastWriteTimeUtc).ToList();
        foreach (var old in entries.Skip(MaxCachedInversions))
        {
            try { old.Delete(); }
            catch (IOException) { }
        }
    }

    /// <summary>The pipeline's inversion and edit steps as studio steps (synchronously, in order).</summary>
    private sealed class Phases(IProgress<StudioProgress> progress) : IProgress<ProgressInfo>
    {
        public void Report(ProgressInfo p)
        {
            if (p.Stage is StudioProgress.Invert or StudioProgress.EditPhase)
                progress.Report(new StudioProgress(p.Step, p.Total, null, p.Stage, p.Detail == "cached" ? "cached" : null));
        }
    }
}
