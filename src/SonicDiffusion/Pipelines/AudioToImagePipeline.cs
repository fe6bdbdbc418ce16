using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Diagnostics;
using SonicDiffusion.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Pipelines;

/// <summary>
/// SonicDiffusion audio-to-image generation (official <c>app.py</c> + <c>pipeline_stable_diffusion_custom.py</c>, see
/// <see cref="AudioToImageRequest"/> for the guidance modes). Audio path: file → channel mean → 44.1 kHz → 10-s window
/// at <see cref="AudioToImageRequest.AudioOffset"/> (repeat-padded when shorter) → gain → log-mel → CLAP → L2-normalised
/// embedding (optionally mixed, <see cref="AudioMix"/>) → projector → audio tokens for the adapters. Embeddings are
/// cached per (file, size, time stamp, gain, offset) for the life of the pipeline, so a folder run or repeated seeds
/// encode each sound once. Seeded noise is drawn on the CPU, so a seed gives the same image on every device.
/// </summary>
public sealed class AudioToImagePipeline(SonicDiffusionModel model)
{
    private readonly TextToImagePipeline _text = new(model.Sd);
    private readonly Dictionary<string, Tensor> _embeddings = new(StringComparer.Ordinal);
    private Tensor? _nullTokens;

    public SonicDiffusionModel Model { get; } = model;

    /// <summary>
    /// Guidance branches evaluated side by side per step, each on its own thread with one intra-op thread
    /// (<see cref="BranchWorkers"/>); 1 = one batched UNet call; null (default) = <see cref="BranchWorkers.Suggest"/>
    /// from the latent size and the intra-op thread count. Images differ from the batched call only by float rounding.
    /// </summary>
    public int? BranchThreads { get; set; }

    /// <summary>Sounds encoded so far (cache entries).</summary>
    public int CachedEmbeddings => _embeddings.Count;

    /// <summary>The L2-normalised CLAP embedding [1, d] (float32, model device) of one sound; cached. The caller owns the result.</summary>
    public Tensor AudioEmbedding(string path, double gainDb = 0, double offsetSeconds = 0)
    {
        var info = new FileInfo(path);
        string key = $"{info.FullName}|{(info.Exists ? info.Length : -1)}|{(info.Exists ? info.LastWriteTimeUtc.Ticks : 0)}|{gainDb:R}|{offsetSeconds:R}";
        if (!_embeddings.TryGetValue(key, out var emb))
        {
            using var mode = torch.inference_mode();
            using var scope = torch.NewDisposeScope();
            var fe = Model.FrontEnd;
            long cropStart = (long)Math.Round(offsetSeconds * fe.Config.SampleRate);
            Tensor wave;
            using (var src = AudioSources.Open(path)) wave = fe.PrepareWaveform(src, cropStart);
            if (gainDb != 0) wave = wave.mul(Math.Pow(10, gainDb / 20));
            var logmel = fe.LogMel(wave.to(Model.Device).unsqueeze(0));
            emb = Model.AudioEncoder.forward(logmel).to_type(ScalarType.Float32).detach().DetachFromDisposeScope();
            _embeddings[key] = emb;
        }
        return emb.clone();
    }

    /// <summary>The request's conditioning embedding [1, d]: the main sound, mixed with <see cref="AudioToImageRequest.Mix"/> if any.</summary>
    public Tensor ConditioningEmbedding(AudioToImageRequest req, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default)
    {
        int total = 1 + req.Mix.Count;
        progress?.Report(new ProgressInfo("audio", 0, total));
        ct.ThrowIfCancellationRequested();
        var main = AudioEmbedding(req.Audio, req.GainDb, req.AudioOffset);
        progress?.Report(new ProgressInfo("audio", 1, total, Path.GetFileName(req.Audio)));
        if (req.Mix.Count == 0) return main;
        using var scope = torch.NewDisposeScope();
        var mixed = main.mul(1 - req.Mix.Sum(m => m.Weight));
        main.Dispose();
        for (int i = 0; i < req.Mix.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var other = AudioEmbedding(req.Mix[i].Path, req.GainDb, req.AudioOffset);
            mixed = mixed.add(other.mul(req.Mix[i].Weight));
            progress?.Report(new ProgressInfo("audio", i + 2, total, Path.GetFileName(req.Mix[i].Path)));
        }
        return mixed.div(mixed.norm(-1, keepdim: true).clamp_min(1e-12)).MoveToOuterDisposeScope();
    }

    /// <summary>Audio tokens [1, K, D] of an embedding [1, d], in the UNet's dtype.</summary>
    public Tensor AudioTokens(Tensor embedding)
    {
        using var mode = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        var tokens = Model.Projector.forward(embedding.to(Model.Device).to_type(ScalarType.Float32).unsqueeze(1));
        return tokens.to_type(Model.Sd.Dtype).MoveToOuterDisposeScope();
    }

    /// <summary>The official null audio: projector(zeros) [1, K, D] (cached; the caller owns the result).</summary>
    public Tensor NullAudioTokens()
    {
        if (_nullTokens is null)
        {
            using var zeros = torch.zeros(1, Model.Projector.Config.AudioDim, device: Model.Device);
            _nullTokens = AudioTokens(zeros).DetachFromDisposeScope();
        }
        return _nullTokens.clone();
    }

    /// <summary>
    /// Runs the sampler and returns the final latent [1, 4, H/8, W/8]. <paramref name="wrapDenoiser"/>, when given,
    /// wraps the guided denoiser the sampler calls (it must return the inner result unchanged; the studio uses it for
    /// step previews).
    /// </summary>
    public Tensor GenerateLatents(AudioToImageRequest req, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default,
        Func<DenoiseFn, DenoiseFn>? wrapDenoiser = null)
    {
        req.Validate();
        var betas = Model.Adapters.BetaMap(req.Beta, req.BetaSites);
        var scheduler = SchedulerFactory.Create(req.Scheduler, Model.Sd.Scheduler);
        using var mode = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        Tensor emb, audio, none;
        using (SectionProfiler.Measure(ProfileSections.AudioEncode)) emb = ConditioningEmbedding(req, progress, ct);
        using (SectionProfiler.Measure(ProfileSections.AudioProjector))
        {
            audio = AudioTokens(emb);
            none = NullAudioTokens();
        }
        var dtype = Model.Sd.Dtype;
        Tensor text, audioContext;
        double[] scales;
        var textSection = SectionProfiler.Measure(ProfileSections.TextEncode);
        if (req.ThreeBranch)
        {
            var t = _text.EncodePrompts(req.NegativePrompt, req.Prompt);
            text = torch.cat(new[] { t[0..1], t[1..2], t[1..2] }, 0);
            audioContext = torch.cat(new[] { none, none, audio }, 0);
            scales = [req.Guidance, req.AudioGuidance!.Value];
        }
        else if (req.Guidance > 1.0)
        {
            text = _text.EncodePrompts(req.NegativePrompt, req.Prompt);
            audioContext = torch.cat(new[] { none, audio }, 0);
            scales = [req.Guidance];
        }
        else
        {
            text = _text.EncodePrompts(req.Prompt);
            audioContext = audio;
            scales = [];
        }
        textSection.Dispose();
        using var workers = BranchWorkers.ForSampling(BranchThreads, (int)text.shape[0], Model.Sd.LatentTokens(req.Width, req.Height), Model.Device.type == DeviceType.CPU);
        using var denoiser = new GuidedDenoiser(Model.Sd.Unet, text.to_type(dtype), audioContext.to_type(dtype), scales, req.Beta,
            (ctx, _) => ctx.AudioScales = betas, workers);
        var x = _text.InitialNoise(req.Seed, req.Width, req.Height);
        int total = scheduler.ModelCalls(req.Steps);
        progress?.Report(new ProgressInfo("denoise", 0, total));
        DenoiseFn denoise = denoiser.Denoise;
        if (wrapDenoiser is not null) denoise = wrapDenoiser(denoise);
        Tensor latent;
        using (SectionProfiler.Measure(ProfileSections.Sampler))
            latent = scheduler.Sample(x, req.Steps, denoise,
                (i, n, t, _) => progress?.Report(new ProgressInfo("denoise", i + 1, n, $"t={t}")), ct);
        return latent.MoveToOuterDisposeScope();
    }

    /// <summary>Generates an image [1, 3, H, W] in [0, 1] (float32, CPU).</summary>
    public Tensor Generate(AudioToImageRequest req, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default)
    {
        using var mode = torch.inference_mode();
        using var latent = GenerateLatents(req, progress, ct);
        ct.ThrowIfCancellationRequested();
        progress?.Report(new ProgressInfo("decode", 0, 1));
        var image = Model.Sd.DecodeToImage(latent);
        progress?.Report(new ProgressInfo("decode", 1, 1));
        return image;
    }

    /// <summary>PNG text chunks: the request, the model and the files it came from.</summary>
    public IEnumerable<KeyValuePair<string, string>> Metadata(AudioToImageRequest req)
    {
        foreach (var kv in req.ToMetadata()) yield return kv;
        yield return new("model", Model.Source);
        foreach (var (part, file) in Model.Origins) yield return new($"model_{part}", file);
        yield return new("adapter_sites", string.Join(",", Model.Adapters.Sites.Select(s => s.Path)));
        yield return new("dtype", TorchRuntime.DtypeName(Model.Sd.Dtype));
        if (Model.Sd.VaeTiling is { } t) yield return new("vae_tiling", $"{t.Tile}/{t.Overlap}");
    }

    /// <summary>Frees the embedding cache.</summary>
    public void ClearCache()
    {
        foreach (var t in _embeddings.Values) t.Dispose();
        _embeddings.Clear();
        _nullTokens?.Dispose();
        _nullTokens = null;
    }
}
