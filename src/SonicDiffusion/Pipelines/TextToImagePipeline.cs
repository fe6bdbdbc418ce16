using SonicDiffusion.Core;
using SonicDiffusion.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Pipelines;

/// <summary>Stable Diffusion v1 text-to-image with classifier-free guidance.</summary>
public sealed class TextToImagePipeline(StableDiffusionComponents model)
{
    public StableDiffusionComponents Model { get; } = model;

    /// <summary>Text tokens [n, 77, D] for the given prompts.</summary>
    public Tensor EncodePrompts(params string[] prompts)
    {
        using var scope = torch.NewDisposeScope();
        var ids = Model.Tokenizer.EncodeBatch(prompts, Model.TextEncoder.Config.MaxPositionEmbeddings).to(Model.Device);
        return Model.TextEncoder.forward(ids).MoveToOuterDisposeScope();
    }

    /// <summary>Guidance branches evaluated side by side per step (<see cref="AudioToImagePipeline.BranchThreads"/>); null = automatic.</summary>
    public int? BranchThreads { get; set; }

    /// <summary>The seeded initial latent: N(0, I) drawn on the CPU so a seed gives the same image on every device.</summary>
    public Tensor InitialNoise(long seed, int width, int height)
    {
        using var gen = new torch.Generator((ulong)seed);
        var shape = new long[] { 1, Model.Unet.Config.InChannels, height / Model.VaeScaleFactor, width / Model.VaeScaleFactor };
        using var noise = torch.randn(shape, dtype: ScalarType.Float32, generator: gen);
        return noise.to(Model.Dtype).to(Model.Device);
    }

    /// <summary>
    /// Runs the sampler and returns the final latent [1, 4, H/8, W/8]. <paramref name="wrapDenoiser"/>, when given,
    /// wraps the guided denoiser the sampler calls (it must return the inner result unchanged; the studio uses it for
    /// step previews).
    /// </summary>
    public Tensor GenerateLatents(TextToImageRequest req, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default,
        Func<DenoiseFn, DenoiseFn>? wrapDenoiser = null)
    {
        req.Validate();
        using var mode = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        var scheduler = SchedulerFactory.Create(req.Scheduler, Model.Scheduler);
        bool guided = req.Guidance != 1.0;
        var text = (guided ? EncodePrompts(req.NegativePrompt, req.Prompt) : EncodePrompts(req.Prompt)).to_type(Model.Dtype);
        using var workers = BranchWorkers.ForSampling(BranchThreads, (int)text.shape[0], Model.LatentTokens(req.Width, req.Height), Model.Device.type == DeviceType.CPU);
        using var denoiser = new GuidedDenoiser(Model.Unet, text, null, guided ? new[] { req.Guidance } : Array.Empty<double>(), workers: workers);
        var x = InitialNoise(req.Seed, req.Width, req.Height);
        int total = scheduler.ModelCalls(req.Steps);
        progress?.Report(new ProgressInfo("denoise", 0, total));
        DenoiseFn denoise = denoiser.Denoise;
        if (wrapDenoiser is not null) denoise = wrapDenoiser(denoise);
        var latent = scheduler.Sample(x, req.Steps, denoise,
            (i, n, t, _) => progress?.Report(new ProgressInfo("denoise", i + 1, n, $"t={t}")), ct);
        return latent.MoveToOuterDisposeScope();
    }

    /// <summary>Generates an image [1, 3, H, W] in [0, 1].</summary>
    public Tensor Generate(TextToImageRequest req, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default)
    {
        using var mode = torch.inference_mode();
        using var latent = GenerateLatents(req, progress, ct);
        progress?.Report(new ProgressInfo("decode", 0, 1));
        var image = Model.DecodeToImage(latent);
        progress?.Report(new ProgressInfo("decode", 1, 1));
        return image;
    }
}
