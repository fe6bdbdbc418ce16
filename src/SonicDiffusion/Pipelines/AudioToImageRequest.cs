using System.Globalization;
using SonicDiffusion.Core;

namespace SonicDiffusion.Pipelines;

/// <summary>
/// Parameters of one audio-to-image generation; every field is written into the PNG.
/// <para>Guidance: with <see cref="AudioGuidance"/> null (default) exactly the official pipeline: two branches
/// [text(<see cref="NegativePrompt"/>, "" by default), projector(0)] and [text(<see cref="Prompt"/>), audio tokens] with one
/// scale <see cref="Guidance"/> (≤ 1 runs only the conditional branch). With <see cref="AudioGuidance"/> set, three
/// branches [negative, null audio] → [prompt, null audio] → [prompt, audio]:
/// ε = ε₀ + <see cref="Guidance"/>·(ε₁ − ε₀) + <see cref="AudioGuidance"/>·(ε₂ − ε₁).</para>
/// </summary>
public sealed record AudioToImageRequest
{
    public required string Audio { get; init; }
    public string Prompt { get; init; } = "";
    public string NegativePrompt { get; init; } = "";
    public int Steps { get; init; } = 50;
    public double Guidance { get; init; } = 7.5;
    public double? AudioGuidance { get; init; }
    /// <summary>β for every adapter site.</summary>
    public double Beta { get; init; } = 1.0;
    /// <summary>β per adapter site (site order of the model); overrides <see cref="Beta"/>.</summary>
    public IReadOnlyList<double>? BetaSites { get; init; }
    public long Seed { get; init; }
    public string Scheduler { get; init; } = "pndm";
    public int Width { get; init; } = 512;
    public int Height { get; init; } = 512;
    public IReadOnlyList<AudioMix> Mix { get; init; } = [];
    /// <summary>Loudness change in dB applied to the waveform before the encoder.</summary>
    public double GainDb { get; init; }
    /// <summary>Start of the 10-second window in a longer clip, in seconds (the official code draws it at random).</summary>
    public double AudioOffset { get; init; }

    public bool ThreeBranch => AudioGuidance is not null;

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Audio)) throw new SonicException("--audio: no audio file given");
        if (Steps is < 1 or > 1000) throw new SonicException($"--steps {Steps}: must be between 1 and 1000");
        if (Width % 8 != 0 || Height % 8 != 0 || Width < 8 || Height < 8)
            throw new SonicException($"--size {Width}x{Height}: both sides must be positive multiples of 8");
        if (!double.IsFinite(Guidance)) throw new SonicException($"--guidance {Guidance}: not a finite number");
        if (AudioGuidance is { } a && !double.IsFinite(a)) throw new SonicException($"--audio-guidance {a}: not a finite number");
        if (!double.IsFinite(Beta)) throw new SonicException($"--beta {Beta}: not a finite number");
        if (BetaSites is { } b && (b.Count == 0 || b.Any(x => !double.IsFinite(x)))) throw new SonicException("--beta-sites: give one finite number per adapter site");
        if (!double.IsFinite(GainDb) || GainDb is < -120 or > 60) throw new SonicException($"--gain {GainDb}: must be between -120 and 60 dB");
        if (!double.IsFinite(AudioOffset) || AudioOffset < 0) throw new SonicException($"--audio-offset {AudioOffset}: must be a non-negative number of seconds");
        foreach (var m in Mix) m.Validate();
        double total = Mix.Sum(m => m.Weight);
        if (total > 1 + 1e-9) throw new SonicException($"--mix: weights add up to {total.ToString("0.###", CultureInfo.InvariantCulture)}; they must not exceed 1 (the main sound gets 1 minus their sum)");
    }

    public IEnumerable<KeyValuePair<string, string>> ToMetadata()
    {
        var c = CultureInfo.InvariantCulture;
        string F(double x) => x.ToString("R", c);
        yield return new("audio", Audio);
        yield return new("audio_offset", F(AudioOffset));
        yield return new("gain_db", F(GainDb));
        yield return new("mix", string.Join(",", Mix.Select(m => m.ToString())));
        yield return new("prompt", Prompt);
        yield return new("negative_prompt", NegativePrompt);
        yield return new("guidance_mode", ThreeBranch ? "three-branch" : "official");
        yield return new("guidance", F(Guidance));
        if (AudioGuidance is { } a) yield return new("audio_guidance", F(a));
        yield return new("beta", F(Beta));
        if (BetaSites is { } b) yield return new("beta_sites", string.Join(",", b.Select(F)));
        yield return new("steps", Steps.ToString(c));
        yield return new("seed", Seed.ToString(c));
        yield return new("scheduler", Scheduler);
        yield return new("size", $"{Width}x{Height}");
    }
}
