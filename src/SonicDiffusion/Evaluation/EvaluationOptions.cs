using System.Globalization;
using SonicDiffusion.Core;

namespace SonicDiffusion.Evaluation;

/// <summary>What <see cref="WorldEvaluator"/> generates: samples, sampler settings and the two ablation sweeps.</summary>
public sealed record EvaluationOptions
{
    /// <summary>Held-out sounds generated at the main settings (stratified by class, round-robin).</summary>
    public int Count { get; init; } = 90;
    /// <summary>Sounds per sweep point (the first of the main set).</summary>
    public int SweepCount { get; init; } = 27;
    public int Steps { get; init; } = 25;
    /// <summary>Seed of the first sample; sample k uses seed + k at every setting.</summary>
    public long Seed { get; init; }
    /// <summary>Guidance of the main set and the β sweep (the official joint audio+text guidance).</summary>
    public double Guidance { get; init; } = 7.5;
    /// <summary>
    /// Three-branch guidance (<see cref="Pipelines.AudioToImageRequest.AudioGuidance"/>): <see cref="Guidance"/> scales
    /// the text, this the audio; null = the official joint guidance.
    /// </summary>
    public double? AudioGuidance { get; init; }
    /// <summary>β of the main set and the guidance sweep; null = the model's own β.</summary>
    public double? Beta { get; init; }
    public string Scheduler { get; init; } = "pndm";
    /// <summary>Text prompt given with every sound ("" = audio only, as the official demo).</summary>
    public string Prompt { get; init; } = "";
    /// <summary>Give each sound its own row's caption as the text prompt (with β 0: the frozen text-to-image model's own class agreement).</summary>
    public bool PromptFromCaption { get; init; }
    /// <summary>Image side; null = the model's native size.</summary>
    public int? Size { get; init; }
    public string Split { get; init; } = "test";
    /// <summary>Row filters "column=value" (all must hold; case-insensitive), e.g. "recipe_held_out=true" or "real=true".</summary>
    public IReadOnlyList<string> Where { get; init; } = [];
    public IReadOnlyList<double> Betas { get; init; } = [0, 0.5, 1, 1.5];
    public IReadOnlyList<double> Guidances { get; init; } = [1, 2.5, 5, 7.5, 10];
    /// <summary>Generated samples per class in samples.png.</summary>
    public int GridPerClass { get; init; } = 4;

    public EvaluationOptions Validate()
    {
        if (Count < 1) throw new SonicException($"--count {Count}: must be at least 1");
        if (SweepCount < 0) throw new SonicException($"--sweep-count {SweepCount}: must be >= 0 (0 = no sweeps)");
        if (Steps is < 1 or > 1000) throw new SonicException($"--steps {Steps}: must be between 1 and 1000");
        if (!double.IsFinite(Guidance)) throw new SonicException($"--guidance {Guidance}: not a finite number");
        if (AudioGuidance is { } a && !double.IsFinite(a)) throw new SonicException($"--audio-guidance {a}: not a finite number");
        if (Beta is { } b && !double.IsFinite(b)) throw new SonicException($"--beta {b}: not a finite number");
        if (Size is { } s && (s < 8 || s % 8 != 0)) throw new SonicException($"--size {s}: must be a positive multiple of 8");
        if (Betas.Concat(Guidances).Any(v => !double.IsFinite(v))) throw new SonicException("--betas/--guidances: values must be finite numbers");
        if (PromptFromCaption && Prompt.Length > 0) throw new SonicException($"--prompt \"{Prompt}\" and --prompt-from-caption: give one or the other");
        if (GridPerClass < 0) throw new SonicException($"grid per class {GridPerClass}: must be >= 0");
        foreach (var w in Where)
            if (w.IndexOf('=') is <= 0) throw new SonicException($"--where {w}: expected column=value (e.g. recipe_held_out=true)");
        return this;
    }

    /// <summary>Parses a comma-separated list of numbers (an option's value).</summary>
    public static double[] ParseList(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var values = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !double.IsFinite(values[i]))
                throw new SonicException($"{option} {text}: '{parts[i]}' is not a number");
        return values;
    }
}
