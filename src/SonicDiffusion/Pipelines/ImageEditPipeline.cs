using System.Globalization;
using System.Security.Cryptography;
using SonicDiffusion.Core;
using SonicDiffusion.Imaging;
using SonicDiffusion.Models;
using SonicDiffusion.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Pipelines;

/// <summary>A source image ready for editing: the oriented source [1,3,H,W] in [0,1] and its model-input geometry.</summary>
public sealed record EditSource(string Path, Tensor Image, EditGeometry Geometry, ImageFit Fit) : IDisposable
{
    public void Dispose() => Image.Dispose();
}

/// <summary>
/// Audio-guided editing of a real image (official <c>preprocess.py</c> + <c>pnp.py</c>, see <see cref="ImageEditRequest"/>).
/// <para>Inversion: VAE posterior mean × scaling of the prepared image, DDIM inversion (<see cref="DdimScheduler.Invert"/>)
/// with CLIP("") and the plain UNet (no audio tokens, so the adapters are skipped); every latent of the chain is kept
/// and optionally cached on disk (<see cref="InversionCache"/>).</para>
/// <para>Edit: DDIM (η = 0) from the last inverted latent; each step one UNet call on the batch [source, uncond, cond]:
/// latents [z_src(t) (the saved inverted latent at t), x, x], text [CLIP(""), CLIP(negative), CLIP(prompt)], audio
/// [null, null, audio] (none at all for text-only PnP); ε = ε_u + s·(ε_c − ε_u) updates x only. <see cref="PnpInjection"/>
/// copies the source branch's features into the other two during the first fractions of the steps; the hooks are removed
/// when the edit ends, whatever happens.</para>
/// </summary>
public sealed class ImageEditPipeline
{
    private readonly TextToImagePipeline _text;
    private string? _modelHash;

    public ImageEditPipeline(SonicDiffusionModel model, InversionCache? cache = null) : this(model.Sd, cache)
    {
        Model = model;
        Audio = new AudioToImagePipeline(model);
    }

    /// <summary>A plain Stable Diffusion v1 model: text-only PnP (requests without <see cref="ImageEditRequest.Audio"/>).</summary>
    public ImageEditPipeline(StableDiffusionComponents sd, InversionCache? cache = null)
    {
        Sd = sd;
        Cache = cache;
        _text = new TextToImagePipeline(sd);
    }

    public StableDiffusionComponents Sd { get; }
    /// <summary>The SonicDiffusion model; null for a plain Stable Diffusion model (text-only PnP).</summary>
    public SonicDiffusionModel? Model { get; }
    public InversionCache? Cache { get; }
    /// <summary>Audio encoding (with its embedding cache), shared with generation; null without a SonicDiffusion model.</summary>
    public AudioToImagePipeline? Audio { get; }
    /// <summary>Whether the last <see cref="Invert(EditSource, int, IProgress{ProgressInfo}?, CancellationToken, Func{DenoiseFn, DenoiseFn}?)"/> came from the cache.</summary>
    public bool LastInversionCached { get; private set; }
    /// <summary>The cache key of the last inversion (null without a cache).</summary>
    public string? LastInversionKey { get; private set; }

    /// <summary>Where the model was loaded from.</summary>
    public string Source => Model?.Source ?? Sd.Source;

    /// <summary>Native image side of the model (UNet sample size × VAE factor; 512 for SD v1).</summary>
    public int NativeSize => (Sd.Unet.Config.SampleSize ?? 64) * Sd.VaeScaleFactor;

    public DdimScheduler Scheduler() => new(Sd.Scheduler);

    /// <summary>Loads (EXIF orientation applied, alpha over white) and plans the geometry of a source image.</summary>
    public EditSource Prepare(string path, ImageFit fit)
    {
        var image = ImageTensor.Load(path);
        try
        {
            var geometry = EditGeometry.Plan((int)image.shape[3], (int)image.shape[2], NativeSize, fit, path);
            return new EditSource(path, image, geometry, fit);
        }
        catch
        {
            image.Dispose();
            throw;
        }
    }

    /// <summary>Scaled latent [1,4,h,w] of the prepared source (posterior mean).</summary>
    public Tensor EncodeSource(EditSource source)
    {
        using var mode = torch.inference_mode();
        using var input = source.Geometry.ToInput(source.Image);
        return Sd.EncodeImage(input);
    }

    /// <summary>
    /// DDIM inversion of a latent with CLIP(""): steps + 1 latents, index k after k steps (caller owns them).
    /// <paramref name="wrapDenoiser"/>, when given, wraps the UNet call the inversion makes (it must return the inner
    /// result unchanged; the studio uses it for step previews).
    /// </summary>
    public IReadOnlyList<Tensor> InvertLatent(Tensor latent, int steps, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default,
        Func<DenoiseFn, DenoiseFn>? wrapDenoiser = null)
    {
        using var mode = torch.inference_mode();
        var text = EmptyText();
        var unet = Sd.Unet;
        var scheduler = Scheduler();
        using var cache = new CrossAttentionCache();
        progress?.Report(new ProgressInfo("invert", 0, steps));
        try
        {
            DenoiseFn denoise = (x, t) =>
            {
                using var ts = torch.full(new long[] { 1 }, t, dtype: ScalarType.Int64, device: x.device);
                return unet.Forward(x, ts, text, new UNetCallContext { CrossAttentionCache = cache });
            };
            if (wrapDenoiser is not null) denoise = wrapDenoiser(denoise);
            return scheduler.Invert(latent.to_type(Sd.Dtype), steps, denoise, (i, n, t, _) => progress?.Report(new ProgressInfo("invert", i + 1, n, $"t={t}")), ct);
        }
        finally
        {
            text.Dispose();
        }
    }

    /// <summary>The inversion chain of a source (from the cache when present; saved there otherwise).</summary>
    public IReadOnlyList<Tensor> Invert(EditSource source, int steps, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default,
        Func<DenoiseFn, DenoiseFn>? wrapDenoiser = null)
    {
        string? key = null;
        LastInversionCached = false;
        LastInversionKey = null;
        if (Cache != null)
        {
            var g = source.Geometry;
            key = InversionCache.Key(source.Path, $"{source.Fit}|{g.InputWidth}x{g.InputHeight}|{g.CropLeft},{g.CropTop},{g.CropWidth},{g.CropHeight}|{g.PadLeft},{g.PadTop}", ModelHash(), steps);
            LastInversionKey = key;
            if (Cache.TryLoad(key, steps, Sd.Device, Sd.Dtype) is { } hit)
            {
                LastInversionCached = true;
                progress?.Report(new ProgressInfo("invert", steps, steps, "cached"));
                return hit;
            }
        }
        using var latent = EncodeSource(source);
        var chain = InvertLatent(latent, steps, progress, ct, wrapDenoiser);
        if (Cache != null && key != null)
            Cache.Save(key, chain, new Dictionary<string, string> { ["image"] = source.Path, ["steps"] = steps.ToString(System.Globalization.CultureInfo.InvariantCulture), ["model"] = Source });
        return chain;
    }

    /// <summary>Plain DDIM sampling from the last inverted latent with CLIP("") and no audio (the reconstruction check).</summary>
    public Tensor Reconstruct(IReadOnlyList<Tensor> chain, CancellationToken ct = default)
    {
        using var mode = torch.inference_mode();
        var text = EmptyText();
        var unet = Sd.Unet;
        using var cache = new CrossAttentionCache();
        try
        {
            return Scheduler().Sample(chain[^1], chain.Count - 1, (x, t) =>
            {
                using var ts = torch.full(new long[] { 1 }, t, dtype: ScalarType.Int64, device: x.device);
                return unet.Forward(x, ts, text, new UNetCallContext { CrossAttentionCache = cache });
            }, null, ct);
        }
        finally
        {
            text.Dispose();
        }
    }

    /// <summary>
    /// PnP sampling from an inversion chain (steps + 1 latents); returns the edited latent. <paramref name="wrapDenoiser"/>
    /// wraps the guided denoiser of the edited branch (as in <see cref="InvertLatent"/>). The source branch runs only at
    /// the timesteps that inject its features, and not at all where <paramref name="sourceFeatures"/> (kept by the caller
    /// for this chain across edits) already holds them: there the batch is [uncond, cond].
    /// </summary>
    public Tensor EditLatents(IReadOnlyList<Tensor> chain, ImageEditRequest req, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default,
        Func<DenoiseFn, DenoiseFn>? wrapDenoiser = null, PnpSourceFeatures? sourceFeatures = null)
    {
        CheckRequest(req);
        int steps = chain.Count - 1;
        if (steps != req.Steps) throw new ArgumentException($"the inversion has {steps} steps, the request {req.Steps}");
        var scheduler = Scheduler();
        var ts = scheduler.Timesteps(steps);
        var byT = new Dictionary<int, Tensor>();
        for (int i = 0; i < ts.Count; i++) byT[ts[i]] = chain[steps - i];
        var betas = req.TextOnly ? null : Model!.Adapters.BetaMap(req.Beta, req.BetaSites);

        using var mode = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        var dtype = Sd.Dtype;
        var text = _text.EncodePrompts("", req.NegativePrompt, req.Prompt).to_type(dtype);
        Tensor? audio = null;
        if (!req.TextOnly)
        {
            var emb = Audio!.ConditioningEmbedding(req.AudioRequest(), progress, ct);
            var none = Audio.NullAudioTokens();
            audio = torch.cat(new[] { none, none, Audio.AudioTokens(emb) }, 0).to_type(dtype);
        }
        var unet = Sd.Unet;
        sourceFeatures?.Bind(chain, SourceFeaturesKey(req));
        using var injection = new PnpInjection(unet, PnpInjection.Schedule(ts, req.FeatureInjection), PnpInjection.Schedule(ts, req.AttnInjection), req.FeatureSites,
            sourceFeatures);
        var pairText = text.narrow(0, 1, 2);
        var pairAudio = audio?.narrow(0, 1, 2);
        using var cache = new CrossAttentionCache();
        using var pairCache = new CrossAttentionCache();
        Tensor Denoise(Tensor x, int t)
        {
            bool residuals = injection.Injects(t, residuals: true), attention = injection.Injects(t, residuals: false);
            bool replay = (residuals || attention) && sourceFeatures is not null && sourceFeatures.TryReplay(t, residuals, attention);
            bool withSource = (residuals || attention) && !replay;
            var batch = withSource ? torch.cat(new[] { byT[t].to_type(x.dtype), x, x }, 0) : torch.cat(new[] { x, x }, 0);
            using var tt = torch.full(new long[] { batch.shape[0] }, t, dtype: ScalarType.Int64, device: x.device);
            var ctx = new UNetCallContext
            {
                AudioContext = withSource ? audio : pairAudio, AudioScale = req.Beta, AudioScales = betas, CrossAttentionCache = withSource ? cache : pairCache,
            };
            ctx.Items[PnpInjection.TimestepKey] = t;
            if (replay) ctx.Items[PnpInjection.ReplayKey] = true;
            var eps = unet.Forward(batch, tt, withSource ? text : pairText, ctx);
            if (withSource) sourceFeatures?.Complete(t, residuals, attention);
            var u = eps.narrow(0, eps.shape[0] - 2, 1);
            var c = eps.narrow(0, eps.shape[0] - 1, 1);
            return u + req.Guidance * (c - u);
        }
        progress?.Report(new ProgressInfo("edit", 0, ts.Count));
        DenoiseFn denoise = Denoise;
        if (wrapDenoiser is not null) denoise = wrapDenoiser(denoise);
        var latent = scheduler.Sample(chain[^1].to_type(dtype), steps, denoise,
            (i, n, t, _) => progress?.Report(new ProgressInfo("edit", i + 1, n, $"t={t}")), ct);
        return latent.MoveToOuterDisposeScope();
    }

    /// <summary>What the source branch's features depend on besides the weights (see <see cref="PnpSourceFeatures"/>).</summary>
    private static string SourceFeaturesKey(ImageEditRequest req) =>
        string.Join("|", req.TextOnly, req.Beta.ToString("R", CultureInfo.InvariantCulture),
            req.BetaSites is null ? "" : string.Join(",", req.BetaSites.Select(b => b.ToString("R", CultureInfo.InvariantCulture))),
            req.FeatureSites is null ? "" : string.Join(",", req.FeatureSites));

    /// <summary>Edits a prepared source with a request; returns the edited image at the source's size, [1,3,H,W] in [0,1].</summary>
    public Tensor Edit(EditSource source, IReadOnlyList<Tensor> chain, ImageEditRequest req, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default,
        Func<DenoiseFn, DenoiseFn>? wrapDenoiser = null, PnpSourceFeatures? sourceFeatures = null)
    {
        using var mode = torch.inference_mode();
        using var latent = EditLatents(chain, req, progress, ct, wrapDenoiser, sourceFeatures);
        progress?.Report(new ProgressInfo("decode", 0, 1));
        using var decoded = Sd.DecodeToImage(latent);
        var image = source.Geometry.FromOutput(decoded);
        progress?.Report(new ProgressInfo("decode", 1, 1));
        return image;
    }

    /// <summary>
    /// Refuses a request this model cannot run, before any inversion: invalid values, audio on a plain SD model, feature
    /// sites that are not decoder resnets of its UNet.
    /// </summary>
    public void CheckRequest(ImageEditRequest req)
    {
        req.Validate();
        if (!req.TextOnly && Model is null)
            throw new SonicException($"{Sd.Source}: a plain Stable Diffusion model has no audio adapters; edit with a prompt and no sound (text-only PnP)");
        if (req.FeatureSites is { } sites) PnpInjection.DecoderResnets(Sd.Unet, sites);
    }

    /// <summary>Prepare, invert (or load the inversion) and edit in one call.</summary>
    public Tensor Edit(ImageEditRequest req, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default)
    {
        CheckRequest(req);
        using var source = Prepare(req.Image, req.Fit);
        var chain = Invert(source, req.Steps, progress, ct);
        try
        {
            return Edit(source, chain, req, progress, ct);
        }
        finally
        {
            foreach (var t in chain) t.Dispose();
        }
    }

    private Tensor EmptyText()
    {
        var t = _text.EncodePrompts("");
        if (t.dtype == Sd.Dtype) return t;
        using (t) return t.to_type(Sd.Dtype);
    }

    /// <summary>Fingerprint of what an inversion depends on: UNet (without adapters) and VAE weights, CLIP(""), the schedule.</summary>
    public string ModelHash()
    {
        if (_modelHash != null) return _modelHash;
        using var mode = torch.inference_mode();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(Tensor t)
        {
            using var c = t.detach().cpu().contiguous();
            sha.AppendData(c.bytes);
        }
        foreach (var (name, p) in Sd.Unet.named_parameters())
            if (!name.Contains("adapter", StringComparison.Ordinal)) { sha.AppendData(System.Text.Encoding.UTF8.GetBytes(name)); Add(p); }
        foreach (var (name, p) in Sd.Vae.named_parameters()) { sha.AppendData(System.Text.Encoding.UTF8.GetBytes(name)); Add(p); }
        using (var empty = _text.EncodePrompts("")) Add(empty);
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(Sd.Scheduler)));
        return _modelHash = Convert.ToHexString(sha.GetHashAndReset()).ToLowerInvariant()[..24];
    }

    /// <summary>PNG text chunks: the request, the model, the injection sites.</summary>
    public IEnumerable<KeyValuePair<string, string>> Metadata(ImageEditRequest req)
    {
        foreach (var kv in req.ToMetadata()) yield return kv;
        yield return new("model", Source);
        if (Model is not null)
            foreach (var (part, file) in Model.Origins) yield return new($"model_{part}", file);
        var (conv, attn) = PnpInjection.Sites(Sd.Unet, req.FeatureSites);
        yield return new("pnp_conv_sites", string.Join(",", conv.Select(c => c.Name)));
        yield return new("pnp_attn_sites", string.Join(",", attn.Select(a => a.Name)));
        yield return new("dtype", TorchRuntime.DtypeName(Sd.Dtype));
        if (Sd.VaeTiling is { } t) yield return new("vae_tiling", $"{t.Tile}/{t.Overlap}");
    }
}
