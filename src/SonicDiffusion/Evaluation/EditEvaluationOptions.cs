using System.Globalization;
using SonicDiffusion.Core;

namespace SonicDiffusion.Evaluation;

/// <summary>What <see cref="EditEvaluator"/> edits and how it judges the edits (<c>sonic eval edit</c>).</summary>
public sealed record EditEvaluationOptions
{
    /// <summary>The share of edits that must switch class while keeping the structure (issue #6).</summary>
    public const double Target = 0.8;

    /// <summary>Held-out scenes (rows with an image, stratified by class, round-robin).</summary>
    public int Count { get; init; } = 27;
    /// <summary>Sounds (of distinct other classes) per scene.</summary>
    public int Sounds { get; init; } = 2;
    /// <summary>Injection settings: one table row each, feature injection = attention injection = f.</summary>
    public IReadOnlyList<double> Fractions { get; init; } = [0.5, 0.8, 1.0];
    /// <summary>DDIM steps of the inversion and of the edits (official 50).</summary>
    public int Steps { get; init; } = 50;
    public double Guidance { get; init; } = 7.5;
    /// <summary>Decoder resnets with feature injection (<c>up_blocks.B.resnets.I</c>); null = the official sites.</summary>
    public IReadOnlyList<string>? FeatureSites { get; init; }
    /// <summary>β at every adapter site; null = the model's own β (and per-site βs).</summary>
    public double? Beta { get; init; }
    /// <summary>Seed of the scene–sound pairing (the edits themselves are deterministic DDIM from the inversion).</summary>
    public long Seed { get; init; }
    public string Split { get; init; } = "test";
    /// <summary>
    /// SSIM to the source at or above which an edit keeps the structure: the 95th percentile of SSIM between unrelated
    /// scenes of the mini world (0.445 over 300 pairs, docs/editing.md), rounded up.
    /// </summary>
    public double SsimThreshold { get; init; } = 0.45;
    /// <summary>Edge F1 to the source at or above which an edit keeps the structure (unrelated scenes' 95th percentile 0.501).</summary>
    public double EdgeThreshold { get; init; } = 0.5;
    /// <summary>Scenes shown in the example sheet (source | every edit of the scene).</summary>
    public int SheetScenes { get; init; } = 4;
    /// <summary>
    /// Prompt template of the text-only PnP baseline (the paper's comparison): each audio edit is repeated with β 0, no
    /// sound and this prompt, <c>{label}</c> replaced by the sound's class in words ("fire_crackling" → "fire crackling").
    /// Null = no baseline.
    /// </summary>
    public string? TextBaseline { get; init; }

    /// <summary>The text baseline's prompt for a class label.</summary>
    public string BaselinePrompt(string label) =>
        (TextBaseline ?? throw new InvalidOperationException("no text baseline")).Replace("{label}", label.Replace('_', ' ').Replace('-', ' '), StringComparison.Ordinal);

    public EditEvaluationOptions Validate()
    {
        if (Count < 1) throw new SonicException($"--count {Count}: must be at least 1");
        if (Sounds < 1) throw new SonicException($"--sounds {Sounds}: must be at least 1");
        if (Fractions.Count == 0) throw new SonicException("--fractions: give at least one injection fraction");
        foreach (var f in Fractions)
            if (!(f is >= 0 and <= 1)) throw new SonicException($"--fractions: {f.ToString(CultureInfo.InvariantCulture)} must be between 0 and 1");
        if (Fractions.Distinct().Count() != Fractions.Count) throw new SonicException("--fractions: a fraction is given twice");
        if (Steps is < 1 or > 1000) throw new SonicException($"--steps {Steps}: must be between 1 and 1000");
        if (!double.IsFinite(Guidance)) throw new SonicException($"--guidance {Guidance}: not a finite number");
        if (Beta is { } b && !double.IsFinite(b)) throw new SonicException($"--beta {b}: not a finite number");
        if (!(SsimThreshold is >= -1 and <= 1)) throw new SonicException($"--ssim-threshold {SsimThreshold}: must be between -1 and 1");
        if (!(EdgeThreshold is >= 0 and <= 1)) throw new SonicException($"--edge-threshold {EdgeThreshold}: must be between 0 and 1");
        if (SheetScenes < 0) throw new SonicException($"--sheet-scenes {SheetScenes}: must be >= 0");
        if (TextBaseline is { } t && !t.Contains("{label}", StringComparison.Ordinal))
            throw new SonicException($"--text-baseline \"{t}\": the prompt template must contain {{label}} (the target class), e.g. \"a photo of {{label}}\"");
        return this;
    }
}
