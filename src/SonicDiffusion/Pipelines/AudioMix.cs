using System.Globalization;
using SonicDiffusion.Core;

namespace SonicDiffusion.Pipelines;

/// <summary>
/// Another sound mixed into the conditioning sound in CLAP-embedding space (<c>--mix other.wav:0.3</c>): the audio
/// embedding becomes normalize((1 − Σwᵢ)·e + Σ wᵢ·eᵢ) with every e the L2-normalised CLAP embedding of its sound
/// (sound interpolation as in the paper; the projector then sees a unit vector, as in training).
/// </summary>
public sealed record AudioMix(string Path, double Weight)
{
    /// <summary>Parses <c>FILE:WEIGHT</c> (the last ':' separates, so Windows drive letters work) or <c>FILE</c> (weight 0.5).</summary>
    public static AudioMix Parse(string spec, string option = "--mix")
    {
        int colon = spec.LastIndexOf(':');
        string path = spec;
        double weight = 0.5;
        if (colon > 0 && colon < spec.Length - 1 && double.TryParse(spec[(colon + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var w))
        {
            path = spec[..colon];
            weight = w;
        }
        var mix = new AudioMix(path, weight);
        mix.Validate(option);
        return mix;
    }

    public void Validate(string option = "--mix")
    {
        if (string.IsNullOrWhiteSpace(Path)) throw new SonicException($"{option}: no file given (expected FILE:WEIGHT, e.g. rain.wav:0.3)");
        if (!double.IsFinite(Weight) || Weight < 0 || Weight > 1) throw new SonicException($"{option} {Path}:{Weight}: the weight must be between 0 and 1");
    }

    public override string ToString() => $"{Path}:{Weight.ToString("R", CultureInfo.InvariantCulture)}";
}
