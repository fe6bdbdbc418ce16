using SonicDiffusion.Core;
using SonicDiffusion.Data.World;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// Shape of a <see cref="WorldClassifier"/> (its <c>config.json</c>, snake_case): images are resized to
/// <see cref="InputSize"/>², then one stage per entry of <see cref="Channels"/> (<see cref="Depths"/> 3×3 convs with
/// GroupNorm + SiLU, then 2×2 average pooling), global average pooling, a <see cref="FeatureDim"/>-wide SiLU layer (the
/// features used by IIS and the FID-proxy) and two heads: class logits over <see cref="Labels"/> and the intensity.
/// </summary>
public sealed record WorldClassifierConfig
{
    public int InputSize { get; init; } = 64;
    public int[] Channels { get; init; } = [16, 32, 64, 128];
    public int[] Depths { get; init; } = [1, 1, 2, 2];
    public int NormGroups { get; init; } = 8;
    public int FeatureDim { get; init; } = 64;
    /// <summary>Class label ids in logit order (the manifest's <c>label</c> values).</summary>
    public string[] Labels { get; init; } = WorldClasses.All.Select(c => c.Label).ToArray();

    public WorldClassifierConfig Validate(string source = "classifier config")
    {
        if (InputSize < 8 || InputSize % (1 << Channels.Length) != 0)
            throw new SonicException($"{source}: input_size {InputSize} must be a multiple of 2^{Channels.Length} (one halving per stage)");
        if (Channels.Length == 0 || Channels.Length != Depths.Length)
            throw new SonicException($"{source}: channels ({Channels.Length}) and depths ({Depths.Length}) must be non-empty and of the same length");
        if (Channels.Any(c => c <= 0 || c % NormGroups != 0))
            throw new SonicException($"{source}: every channel count must be a positive multiple of norm_groups {NormGroups}");
        if (Depths.Any(d => d < 1)) throw new SonicException($"{source}: depths must be >= 1");
        if (FeatureDim < 1) throw new SonicException($"{source}: feature_dim {FeatureDim} must be positive");
        if (Labels.Length < 2 || Labels.Distinct().Count() != Labels.Length)
            throw new SonicException($"{source}: labels must hold at least 2 distinct ids");
        return this;
    }

    /// <summary>Index of a label id, or −1.</summary>
    /// <summary>The index of a label, written with spaces, hyphens or underscores in any case ("Wind noise" = "wind_noise"), or −1.</summary>
    public int LabelIndex(string label)
    {
        int exact = Array.IndexOf(Labels, label);
        if (exact >= 0) return exact;
        string key = Data.World.RealRecordings.NormalizeLabel(label);
        return Array.FindIndex(Labels, l => Data.World.RealRecordings.NormalizeLabel(l) == key);
    }
}
