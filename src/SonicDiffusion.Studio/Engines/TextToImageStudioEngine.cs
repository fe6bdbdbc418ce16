using SonicDiffusion.Imaging;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Schedulers;
using TorchSharp;

namespace SonicDiffusion.Studio.Engines;

/// <summary>
/// A plain Stable Diffusion v1 model behind the studio: <see cref="TextToImagePipeline.GenerateLatents"/> (so a seed
/// gives the image <c>sonic txt2img</c> gives) with the denoiser wrapped for previews. The sound is decoded and checked
/// by the server but does not condition the image; <see cref="StudioModelInfo.UsesAudio"/> is false and every PNG says
/// so. Edits are text-only Plug-and-Play (<see cref="ImageEditPipeline"/> on the plain model): they need a prompt.
/// </summary>
public sealed class TextToImageStudioEngine : IStudioEngine
{
    private readonly StableDiffusionComponents _model;
    private readonly bool _ownsModel;
    private readonly TextToImagePipeline _pipeline;
    private readonly string _scratch = Path.Combine(Path.GetTempPath(), "sonic-studio-" + Guid.NewGuid().ToString("N")[..12]);

    /// <param name="maxCachedInversions">DDIM inversions of edited images kept on disk (0 = none)</param>
    public TextToImageStudioEngine(StableDiffusionComponents model, bool ownsModel = true, int maxCachedInversions = 8)
    {
        _model = model;
        _ownsModel = ownsModel;
        _pipeline = new TextToImagePipeline(model);
        int side = (model.Unet.Config.SampleSize ?? 64) * model.VaeScaleFactor;
        var name = Path.GetFileName(model.Source.TrimEnd('/', '\\'));
        Editor = new StudioEditor(_scratch, name, maxCachedInversions, cache => new ImageEditPipeline(model, cache));
        Info = new StudioModelInfo
        {
            Name = name,
            Source = model.Source,
            UsesAudio = false,
            CanEdit = true,
            Width = side,
            Height = side,
            DefaultSteps = 25,
            DefaultGuidance = 7.5,
            DefaultBeta = 0,
            DefaultScheduler = "pndm",
            DecoderResnets = PnpInjection.DecoderResnetNames(model.Unet),
            DefaultFeatureSites = PnpInjection.Sites(model.Unet).Conv.Select(c => c.Name).ToList(),
            Note = "This is a plain Stable Diffusion model: the sound is checked but does not steer the image. Load a SonicDiffusion bundle to generate from sound. Edits here are text-only: they need a prompt.",
        };
    }

    public StudioModelInfo Info { get; }
    public StudioEditor Editor { get; }

    public StudioImage Generate(StudioGenerateRequest request, IProgress<StudioProgress> progress, CancellationToken ct)
    {
        var req = new TextToImageRequest
        {
            Prompt = request.Prompt, NegativePrompt = request.NegativePrompt, Steps = request.Steps, Guidance = request.Guidance,
            Seed = request.Seed, Scheduler = request.Scheduler, Width = Info.Width, Height = Info.Height,
        };
        req.Validate();
        using var mode = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        var scheduler = SchedulerFactory.Create(req.Scheduler, _model.Scheduler);
        int total = scheduler.ModelCalls(req.Steps);
        var preview = new LatentPreview(scheduler.Schedule, _model.Scheduler.PredictionType, request.PreviewEvery, total,
            (call, png) => progress.Report(new StudioProgress(call, total, png)));
        var latent = _pipeline.GenerateLatents(req, new DenoiseSteps(progress), ct, preview.Wrap);
        ct.ThrowIfCancellationRequested();
        var image = _model.DecodeToImage(latent);
        var meta = req.ToMetadata()
            .Append(new("audio", request.AudioLabel))
            .Append(new("audio_conditioning", "none (plain Stable Diffusion model)"))
            .Append(new("model", Info.Name))
            .Append(new("software", "SonicDiffusion.NET studio"))
            .ToList();
        var png = ImageTensor.EncodePng(image, meta);
        return new StudioImage(png, req.Width, req.Height, meta);
    }

    public StudioImage Edit(StudioEditRequest request, IProgress<StudioProgress> progress, CancellationToken ct) =>
        Editor.Edit(request, null, progress, ct);

    public void Dispose()
    {
        Editor.Dispose();
        try { if (Directory.Exists(_scratch)) Directory.Delete(_scratch, true); }
        catch (IOException) { }
        if (_ownsModel) _model.Dispose();
    }
}
