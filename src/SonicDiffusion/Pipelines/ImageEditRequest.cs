using System.Globalization;
using SonicDiffusion.Core;
using SonicDiffusion.Imaging;

namespace SonicDiffusion.Pipelines;

/// <summary>
/// Parameters of one audio-guided edit of a real image (official <c>preprocess.py</c> + <c>pnp.py</c>; defaults as the
/// Gradio demo <c>app2.py</c>: injection 0.8 / 0.8, guidance 7.5, DDIM 50 steps, seed 42). <see cref="Audio"/> null gives
/// the text-only PnP baseline (prompt only). Paper vs code: the paper describes PnP with an audio condition; the code
/// injects two decoder resnets (<c>up_blocks.1.resnets.1</c> and <c>.2</c>; upstream PnP only the first), and its
/// <c>run_pnp()</c> defaults (0.5 / 0.5, guidance 5) differ from the demo's, which are used here.
/// </summary>
public sealed record ImageEditRequest
{
    public required string Image { get; init; }
    /// <summary>The sound that drives the edit; null = text-only PnP.</summary>
    public string? Audio { get; init; }
    public string Prompt { get; init; } = "";
    public string NegativePrompt { get; init; } = "";
    /// <summary>DDIM steps, used for both the inversion and the edit (the saved latents are the edit's timesteps).</summary>
    public int Steps { get; init; } = 50;
    public double Guidance { get; init; } = 7.5;
    /// <summary>Fraction of the steps (from the noisiest) with residual-feature injection.</summary>
    public double FeatureInjection { get; init; } = 0.8;
    /// <summary>Fraction of the steps (from the noisiest) with self-attention q/k injection.</summary>
    public double AttnInjection { get; init; } = 0.8;
    /// <summary>Decoder resnets whose residual features are injected (<c>up_blocks.B.resnets.I</c>); null = the official rule (<see cref="PnpInjection"/>).</summary>
    public IReadOnlyList<string>? FeatureSites { get; init; }
    public double Beta { get; init; } = 1.0;
    public IReadOnlyList<double>? BetaSites { get; init; }
    /// <summary>Recorded only: deterministic DDIM (η = 0) from the inverted noise draws nothing.</summary>
    public long Seed { get; init; } = 42;
    public ImageFit Fit { get; init; } = ImageFit.Resize;
    public double GainDb { get; init; }
    public double AudioOffset { get; init; }

    public bool TextOnly => Audio is null;

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Image)) throw new SonicException("--image: no image given");
        if (Audio is not null && string.IsNullOrWhiteSpace(Audio)) throw new SonicException("--audio: empty file name");
        if (Steps is < 1 or > 1000) throw new SonicException($"--steps {Steps}: must be between 1 and 1000");
        if (!double.IsFinite(Guidance)) throw new SonicException($"--guidance {Guidance}: not a finite number");
        if (!(FeatureInjection is >= 0 and <= 1)) throw new SonicException($"--feature-injection {FeatureInjection}: must be between 0 and 1");
        if (!(AttnInjection is >= 0 and <= 1)) throw new SonicException($"--attn-injection {AttnInjection}: must be between 0 and 1");
        if (!double.IsFinite(Beta)) throw new SonicException($"--beta {Beta}: not a finite number");
        if (BetaSites is { } b && (b.Count == 0 || b.Any(x => !double.IsFinite(x)))) throw new SonicException("--beta-sites: give one finite number per adapter site");
        if (!double.IsFinite(GainDb) || GainDb is < -120 or > 60) throw new SonicException($"--gain {GainDb}: must be between -120 and 60 dB");
        if (!double.IsFinite(AudioOffset) || AudioOffset < 0) throw new SonicException($"--audio-offset {AudioOffset}: must be a non-negative number of seconds");
    }

    /// <summary>The request as an audio request (for the audio embedding and β map).</summary>
    public AudioToImageRequest AudioRequest() => new()
    {
        Audio = Audio ?? "", Prompt = Prompt, NegativePrompt = NegativePrompt, Steps = Steps, Guidance = Guidance,
        Beta = Beta, BetaSites = BetaSites, GainDb = GainDb, AudioOffset = AudioOffset, Scheduler = "ddim",
    };

    public IEnumerable<KeyValuePair<string, string>> ToMetadata()
    {
        var c = CultureInfo.InvariantCulture;
        string F(double x) => x.ToString("R", c);
        yield return new("edit_mode", TextOnly ? "pnp-text" : "pnp-audio");
        yield return new("source_image", Image);
        if (Audio is not null)
        {
            yield return new("audio", Audio);
            yield return new("audio_offset", F(AudioOffset));
            yield return new("gain_db", F(GainDb));
            yield return new("beta", F(Beta));
            if (BetaSites is { } b) yield return new("beta_sites", string.Join(",", b.Select(F)));
        }
        yield return new("prompt", Prompt);
        yield return new("negative_prompt", NegativePrompt);
        yield return new("guidance", F(Guidance));
        yield return new("feature_injection", F(FeatureInjection));
        yield return new("attn_injection", F(AttnInjection));
        if (FeatureSites is not null) yield return new("feature_sites", string.Join(",", FeatureSites));
        yield return new("steps", Steps.ToString(c));
        yield return new("scheduler", "ddim");
        yield return new("seed", Seed.ToString(c));
        yield return new("fit", Fit.ToString().ToLowerInvariant());
    }
}
