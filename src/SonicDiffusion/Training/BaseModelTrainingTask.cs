using System.Text.Json.Nodes;
using SonicDiffusion.Data;
using SonicDiffusion.Imaging;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Schedulers;
using SonicDiffusion.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// Text-to-image latent diffusion from scratch, our stand-in for "pretrained Stable Diffusion": a
/// <see cref="UNet2DConditionModel"/> and a <see cref="ClipTextModel"/> trained jointly (as LDM trains its text
/// transformer with the UNet) on cached VAE latents with the DDPM ε-loss under the SD v1 noise schedule
/// (scaled_linear 0.00085–0.012, 1000 steps). Per sample: the latent of the image or of its mirror (p = 0.5), the
/// caption tokenized with the real SD v1 CLIP tokenizer, replaced by the empty prompt with probability
/// <see cref="BaseModelTrainingOptions.CaptionDropout"/>, t ~ U{0..999}, ε ~ N(0, I), loss = mean (ε̂ − ε)².
/// At each checkpoint <c>samples.png</c> in the run folder shows one image per class caption (EMA weights, DDIM).
/// With a <see cref="BaseModelTrainingOptions.Teacher"/> the run distils a (smaller) UNet from a trained one instead:
/// the teacher's text encoder, frozen; the teacher's tensors wherever name and shape match; loss = ε-MSE +
/// w · MSE to the teacher's prediction on the same noisy latent, timestep and caption.
/// </summary>
public sealed class BaseModelTrainingTask : ITrainingTask, IDisposable
{
    public const string PreviewFile = "samples.png";

    private readonly LatentCache _latents;
    private readonly Tensor _tokens;
    private readonly IReadOnlyList<string> _captions;
    private readonly Tensor _emptyTokens;
    private readonly NoiseSchedule _schedule = new(SchedulerConfig.StableDiffusionV1);
    private readonly string _vaeDir;
    private readonly Action<string>? _log;
    private AutoencoderKL? _previewVae;
    private readonly UNet2DConditionModel? _teacher;

    public BaseModelTrainingOptions Options { get; }
    public UNet2DConditionModel Unet { get; }
    public ClipTextModel TextEncoder { get; }
    public ClipTokenizer Tokenizer { get; } = ClipTokenizer.Default;
    /// <summary>Captions rendered at each checkpoint (one per class label); empty = no preview.</summary>
    public IReadOnlyList<string> PreviewPrompts { get; init; } = [];
    public int PreviewSteps { get; init; } = 20;
    public double PreviewGuidance { get; init; } = 4.0;

    /// <param name="latents">Latents of the training images.</param>
    /// <param name="captions">The caption of each latent (same order).</param>
    /// <param name="vaeDir">The VAE folder the latents came from (for previews and the exported model's vae/).</param>
    public BaseModelTrainingTask(LatentCache latents, IReadOnlyList<string> captions, string vaeDir, BaseModelTrainingOptions options, Action<string>? log = null)
    {
        Options = options.Validate();
        if (captions.Count != latents.Count)
            throw new Core.SonicException($"base model: {captions.Count} captions for {latents.Count} latents");
        if (latents.Latents.shape[2] != options.Unet.InChannels)
            throw new Core.SonicException($"base model: latents have {latents.Latents.shape[2]} channels, the UNet takes {options.Unet.InChannels}");
        _latents = latents;
        _vaeDir = vaeDir;
        _log = log;
        int context = options.Text.MaxPositionEmbeddings;
        _captions = captions;
        _tokens = Tokenizer.EncodeBatch(captions, context).DetachFromDisposeScope();
        _emptyTokens = torch.tensor(Tokenizer.EncodeForModel("", context), dtype: ScalarType.Int64).reshape(1, -1).DetachFromDisposeScope();
        Unet = new UNet2DConditionModel(options.Unet with { SampleSize = (int)latents.Latents.shape[3] });
        if (options.Teacher is { } teacherDir)
        {
            var teacher = StableDiffusionComponents.Load(teacherDir);
            teacher.Vae.Dispose();
            string? problem = teacher.TextEncoder.Config != options.Text
                ? $"{teacherDir}: the teacher's text encoder config differs from the run's (a distilled run keeps the teacher's)"
                : teacher.Unet.Config.CrossAttentionDim != options.Unet.CrossAttentionDim
                    ? $"{teacherDir}: the teacher's UNet reads {teacher.Unet.Config.CrossAttentionDim}-wide text tokens, the student's {options.Unet.CrossAttentionDim}"
                    : null;
            if (problem is not null)
            {
                teacher.Unet.Dispose();
                teacher.TextEncoder.Dispose();
                Unet.Dispose();
                _tokens.Dispose();
                _emptyTokens.Dispose();
                throw new Core.SonicException(problem);
            }
            TextEncoder = teacher.TextEncoder;
            _teacher = teacher.Unet;
            var (copied, total) = WarmStart(Unet, _teacher);
            foreach (var m in new torch.nn.Module[] { TextEncoder, _teacher })
            {
                m.eval();
                foreach (var p in m.parameters()) p.requires_grad = false;
            }
            _log?.Invoke($"train base: distilling from {teacherDir} (weight {options.DistillationWeight ?? 1}); its text encoder frozen; {copied} of {total} UNet tensors start from the teacher's (same name and shape)");
        }
        else
        {
            TextEncoder = new ClipTextModel(options.Text);
            InitTextEncoder(TextEncoder);
            TextEncoder.train();
        }
        Unet.train();
    }

    /// <summary>Copies every tensor of <paramref name="teacher"/> whose name and shape <paramref name="student"/> also has; returns (copied, student tensors).</summary>
    public static (int Copied, int Total) WarmStart(UNet2DConditionModel student, UNet2DConditionModel teacher)
    {
        var source = teacher.state_dict();
        int copied = 0, total = 0;
        using var noGrad = torch.no_grad();
        foreach (var (name, t) in student.state_dict())
        {
            total++;
            if (source.TryGetValue(name, out var s) && s.shape.SequenceEqual(t.shape))
            {
                t.copy_(s);
                copied++;
            }
        }
        return (copied, total);
    }

    /// <summary>A random span of 1–<see cref="BaseModelTrainingOptions.MaxFragmentWords"/> consecutive words of <paramref name="caption"/>.</summary>
    public static string CaptionFragment(string caption, Generator g)
    {
        var words = caption.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0) return caption;
        int length = 1 + (int)torch.randint(Math.Min(BaseModelTrainingOptions.MaxFragmentWords, words.Length), [1], generator: g).item<long>();
        int start = (int)torch.randint(words.Length - length + 1, [1], generator: g).item<long>();
        return string.Join(' ', words, start, length);
    }

    /// <summary>CLIP's initialisation of the embeddings (token N(0, 0.02), position N(0, 0.01)); TorchSharp's default is N(0, 1).</summary>
    public static void InitTextEncoder(ClipTextModel model)
    {
        using var noGrad = torch.no_grad();
        foreach (var (name, p) in model.named_parameters())
        {
            if (name.EndsWith("token_embedding.weight", StringComparison.Ordinal)) p.normal_(0, 0.02);
            else if (name.EndsWith("position_embedding.weight", StringComparison.Ordinal)) p.normal_(0, 0.01);
        }
    }

    /// <summary>The first caption of each class label (labels in ordinal order): a fixed preview set.</summary>
    public static IReadOnlyList<string> OneCaptionPerLabel(IEnumerable<ManifestRow> rows) =>
        rows.GroupBy(r => r.Label).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => g.First().Caption).ToList();

    public long DatasetSize => _latents.Count;

    public IReadOnlyList<ParameterGroup> ParameterGroups => _teacher is null
        ? [ParameterGroup.FromModule("unet", Unet, "unet."), ParameterGroup.FromModule("text_encoder", TextEncoder, "text_encoder.", Options.TextLearningRate)]
        : [ParameterGroup.FromModule("unet", Unet, "unet.")];

    public JsonObject? Config => new() { ["kind"] = "base", ["options"] = Options.ToJson(), ["latents"] = _latents.Describe() };

    public TrainingLoss ComputeLoss(TrainingBatch batch)
    {
        var g = batch.Generator;
        long b = batch.Indices.Length;
        var flip = torch.rand([b], generator: g) < Options.FlipProbability;
        var x0 = _latents.Batch(batch.Indices, flip);
        var drop = (torch.rand([b], generator: g) < Options.CaptionDropout).reshape(b, 1);
        var captionIds = _tokens.index_select(0, torch.tensor(batch.Indices, dtype: ScalarType.Int64));
        if (Options.FragmentProbability is double p and > 0)
        {
            var fragment = (torch.rand([b], generator: g) < p).data<bool>().ToArray();
            for (int i = 0; i < b; i++)
                if (fragment[i])
                    captionIds[i].copy_(torch.tensor(Tokenizer.EncodeForModel(CaptionFragment(_captions[(int)batch.Indices[i]], g), (int)_tokens.shape[1]), dtype: ScalarType.Int64));
        }
        var ids = torch.where(drop, _emptyTokens.expand(b, -1), captionIds);
        var noise = torch.randn(x0.shape, generator: g);
        var t = torch.randint(0, _schedule.NumTrainTimesteps, [b], generator: g);
        var xt = _schedule.AddNoise(x0, noise, t);
        if (_teacher is null)
        {
            var context = TextEncoder.forward(ids);
            var prediction = Unet.forward(xt, t, context);
            var mse = (prediction - noise).square().mean();
            return new TrainingLoss(mse, new Dictionary<string, Tensor> { ["mse"] = mse });
        }
        else
        {
            double weight = Options.DistillationWeight ?? 1;
            Tensor context, target;
            using (torch.no_grad()) context = TextEncoder.forward(ids);
            if (weight == 0)
            {
                // A fine-tune of the teacher on new data: nothing to distil, so the teacher's UNet is not run.
                var tuned = Unet.forward(xt, t, context);
                var tunedMse = (tuned - noise).square().mean();
                return new TrainingLoss(tunedMse, new Dictionary<string, Tensor> { ["mse"] = tunedMse });
            }
            using (torch.no_grad()) target = _teacher.forward(xt, t, context);
            var prediction = Unet.forward(xt, t, context);
            var mse = (prediction - noise).square().mean();
            var distill = (prediction - target).square().mean();
            return new TrainingLoss(mse + (Options.DistillationWeight ?? 1) * distill, new Dictionary<string, Tensor> { ["mse"] = mse, ["distill"] = distill });
        }
    }

    /// <summary>The training modules as pipeline components (not owned by the returned object: do not dispose it).</summary>
    private StableDiffusionComponents Components()
    {
        _previewVae ??= ModelExport.LoadVae(_vaeDir);
        return new StableDiffusionComponents
        {
            Unet = Unet,
            Vae = _previewVae,
            TextEncoder = TextEncoder,
            Tokenizer = Tokenizer,
            Scheduler = SchedulerConfig.StableDiffusionV1,
            Device = torch.CPU,
            Dtype = ScalarType.Float32,
            Source = "training",
        };
    }

    /// <summary>Renders <paramref name="prompts"/> (seed = index) with the current weights: [n, 3, R, R] in [0, 1].</summary>
    public Tensor Render(IReadOnlyList<string> prompts, int steps, double guidance)
    {
        bool unetTraining = Unet.training, textTraining = TextEncoder.training;
        Unet.eval();
        TextEncoder.eval();
        try
        {
            var pipeline = new TextToImagePipeline(Components());
            int size = (int)_latents.Latents.shape[3] * (1 << (_previewVae!.Config.NumLevels - 1));
            using var scope = torch.NewDisposeScope();
            var images = prompts.Select((p, i) => pipeline.Generate(new TextToImageRequest
            {
                Prompt = p, Steps = steps, Guidance = guidance, Scheduler = "ddim", Seed = i, Width = size, Height = size,
            })).ToArray();
            return torch.cat(images, 0).MoveToOuterDisposeScope();
        }
        finally
        {
            Unet.train(unetTraining);
            TextEncoder.train(textTraining);
        }
    }

    public void OnCheckpoint(Trainer trainer, string checkpointDirectory)
    {
        if (PreviewPrompts.Count == 0 || !trainer.AtScheduledCheckpoint) return;
        using var ema = trainer.Ema?.SwapIn();
        using var images = Render(PreviewPrompts, PreviewSteps, PreviewGuidance);
        using var row = torch.cat(images.unbind(0), 2);
        ImageTensor.SavePng(row, Path.Combine(trainer.RunDirectory, PreviewFile),
            PreviewPrompts.Select((p, i) => new KeyValuePair<string, string>($"prompt_{i}", p)));
        _log?.Invoke($"step {trainer.Step}: wrote {PreviewFile} ({PreviewPrompts.Count} captions, DDIM {PreviewSteps} steps, guidance {PreviewGuidance})");
    }

    /// <summary>Writes the diffusers model folder (EMA weights when the run has them).</summary>
    public void Export(Trainer trainer, string dir, ScalarType dtype = ScalarType.Float16)
    {
        using var ema = trainer.Ema?.SwapIn();
        ModelExport.WriteStableDiffusion(dir, Unet, TextEncoder, _vaeDir, dtype);
    }

    public void Dispose()
    {
        Unet.Dispose();
        TextEncoder.Dispose();
        _teacher?.Dispose();
        _previewVae?.Dispose();
        _tokens.Dispose();
        _emptyTokens.Dispose();
    }
}
