using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Evaluation;

namespace SonicDiffusion.Training;

/// <summary>
/// What <see cref="ClassifierTrainingTask"/> trains and how. Loss = cross-entropy of the class + <see cref="IntensityWeight"/>
/// · squared error of the intensity (rows without an intensity contribute no intensity loss). Augmentation per sample:
/// random translation by up to <see cref="MaxShift"/> pixels (reflect padding), horizontal flip, and with probability
/// <see cref="ColourProbability"/> a random colour transform: hue rotation (uniform angle), channel permutation
/// (p = <see cref="PermuteProbability"/>), saturation, brightness and contrast factors, greyscale (p = <see cref="GreyProbability"/>).
/// </summary>
public sealed record ClassifierTrainingOptions
{
    public WorldClassifierConfig Model { get; init; } = new();
    /// <summary>Cached image size (the classifier's input size by default).</summary>
    public int? Resolution { get; init; }
    public double IntensityWeight { get; init; } = 4.0;
    public int MaxShift { get; init; } = 4;
    public double FlipProbability { get; init; } = 0.5;
    public double ColourProbability { get; init; } = 0.8;
    public double PermuteProbability { get; init; } = 0.5;
    public double GreyProbability { get; init; } = 0.1;
    public double[] Saturation { get; init; } = [0.4, 1.6];
    public double[] Brightness { get; init; } = [0.6, 1.4];
    public double[] Contrast { get; init; } = [0.6, 1.4];

    public int CacheResolution => Resolution ?? Model.InputSize;

    public ClassifierTrainingOptions Validate()
    {
        Model.Validate("classifier model config");
        if (CacheResolution <= 0 || CacheResolution % 8 != 0) throw new SonicException($"classifier training: resolution {CacheResolution} must be a positive multiple of 8");
        if (IntensityWeight < 0) throw new SonicException("classifier training: intensity_weight must be >= 0");
        if (MaxShift < 0 || MaxShift >= CacheResolution / 2) throw new SonicException($"classifier training: max_shift {MaxShift} must be in [0, {CacheResolution / 2})");
        foreach (var (name, p) in new[] { ("flip", FlipProbability), ("colour", ColourProbability), ("permute", PermuteProbability), ("grey", GreyProbability) })
            if (p is < 0 or > 1) throw new SonicException($"classifier training: {name} probability {p} must be in [0, 1]");
        foreach (var (name, r) in new[] { ("saturation", Saturation), ("brightness", Brightness), ("contrast", Contrast) })
            if (r.Length != 2 || r[0] < 0 || r[1] < r[0]) throw new SonicException($"classifier training: {name} must be [low, high] with 0 <= low <= high");
        return this;
    }

    public JsonObject ToJson() => JsonSerializer.SerializeToNode(this, ConfigJson.Options)!.AsObject();
}
