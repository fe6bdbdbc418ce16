using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Imaging;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Schedulers;
using TorchSharp;

namespace SonicDiffusion.Studio.Engines;

/// <summary>
/// A SonicDiffusion model behind the studio: the real <see cref="AudioToImagePipeline"/> (official joint guidance, β
/// at every adapter site; the model's per-site β while β stays at the model's default), its denoiser wrapped for
/// previews. The pipeline reads sounds from files, so the decoded sound is written as a float WAV with a server-made
/// name in a private folder and deleted after the job; nothing the client sent names a file. Edits run the real
/// <see cref="ImageEditPipeline"/> through a <see cref="StudioEditor"/> (inversions cached in the same private folder).
/// </summary>
public sealed class SonicStudioEngine : IStudioEngine
{
    private readonly SonicDiffusionModel _model;
    private readonly bool _ownsModel;
    private readonly AudioToImagePipeline _pipeline;
    private readonly string _scratch = Path.Combine(Path.GetTempPath(), "sonic-studio-" + Guid.NewGuid().ToString("N")[..12]);

    /// <param name="maxCachedInversions">DDIM inversions of edited images kept on disk (0 = none)</param>
    public SonicStudioEngine(SonicDiffusionModel model, bool ownsModel = true, int maxCachedInversions = 8)
    {
        _model = model;
        _ownsModel = ownsModel;
        _pipeline = new AudioToImagePipeline(model);
        int side = (model.Sd.Unet.Config.SampleSize ?? 64) * model.Sd.VaeScaleFactor;
        var name = Path.GetFileName(model.Source.TrimEnd('/', '\\'));
        Editor = new StudioEditor(_scratch, name, maxCachedInversions, cache => new ImageEditPipeline(model, cache));
        Info = new StudioModelInfo
        {
            Name = name,
            Source = model.Source,
            UsesAudio = true,
            CanEdit = true,
            Width = side,
            Height = side,
            DefaultSteps = 25,
            DefaultGuidance = 7.5,
            DefaultBeta = model.Adapters.Config.Beta,
            DefaultScheduler = "pndm",
            DecoderResnets = PnpInjection.DecoderResnetNames(model.Sd.Unet),
            DefaultFeatureSites = PnpInjection.Sites(model.Sd.Unet).Conv.Select(c => c.Name).ToList(),
        };
    }

    public StudioModelInfo Info { get; }
    public StudioEditor Editor { get; }

    public StudioImage Generate(StudioGenerateRequest request, IProgress<StudioProgress> progress, CancellationToken ct)
    {
        var wav = WriteSound(request.Audio);
        try
        {
            var cfg = _model.Adapters.Config;
            var req = new AudioToImageRequest
            {
                Audio = wav, Prompt = request.Prompt, NegativePrompt = request.NegativePrompt, Steps = request.Steps,
                Guidance = request.Guidance, Beta = request.Beta, BetaSites = request.Beta == cfg.Beta ? cfg.BetaSites : null,
                Seed = request.Seed, Scheduler = request.Scheduler, Width = Info.Width, Height = Info.Height,
            };
            req.Validate();
            using var mode = torch.inference_mode();
            using var scope = torch.NewDisposeScope();
            var schedule = SchedulerFactory.Create(req.Scheduler, _model.Sd.Scheduler);
            int total = schedule.ModelCalls(req.Steps);
            var preview = new LatentPreview(schedule.Schedule, _model.Sd.Scheduler.PredictionType, request.PreviewEvery, total,
                (call, png) => progress.Report(new StudioProgress(call, total, png)));
            var steps = new DenoiseSteps(progress);
            var latent = _pipeline.GenerateLatents(req, steps, ct, preview.Wrap);
            ct.ThrowIfCancellationRequested();
            var image = _model.Sd.DecodeToImage(latent);
            var meta = _pipeline.Metadata(req)
                .Select(kv => kv.Key switch
                {
                    "audio" => new KeyValuePair<string, string>("audio", request.AudioLabel),
                    "model" => new KeyValuePair<string, string>("model", Info.Name),
                    _ when kv.Key.StartsWith("model_", StringComparison.Ordinal) => new(kv.Key, Path.GetFileName(kv.Value)),
                    _ => kv,
                })
                .Append(new("software", "SonicDiffusion.NET studio"))
                .ToList();
            return new StudioImage(ImageTensor.EncodePng(image, meta), req.Width, req.Height, meta);
        }
        finally
        {
            File.Delete(wav);
            _pipeline.ClearCache();
        }
    }

    public StudioImage Edit(StudioEditRequest request, IProgress<StudioProgress> progress, CancellationToken ct)
    {
        var wav = request.UseSound ? WriteSound(request.Generation.Audio) : null;
        try
        {
            return Editor.Edit(request, wav, progress, ct);
        }
        finally
        {
            if (wav is not null) File.Delete(wav);
        }
    }

    /// <summary>The decoded sound as a float WAV under a server-made name in the private folder.</summary>
    private string WriteSound(AudioClip clip)
    {
        Directory.CreateDirectory(_scratch);
        var wav = Path.Combine(_scratch, Guid.NewGuid().ToString("N") + ".wav");
        WavWriter.Write(wav, clip, WavSampleFormat.Float32);
        return wav;
    }

    public void Dispose()
    {
        Editor.Dispose();
        _pipeline.ClearCache();
        try { if (Directory.Exists(_scratch)) Directory.Delete(_scratch, true); }
        catch (IOException) { }
        if (_ownsModel) _model.Dispose();
    }
}
