using SonicDiffusion.Core;

namespace SonicDiffusion.Training;

/// <summary>
/// Learning-rate multiplier per optimizer update: linear warm-up over <see cref="WarmupSteps"/> updates, then
/// "constant" (1) or "cosine" (from 1 down to <see cref="MinLrRatio"/> at the last step). Update index
/// <c>s</c> is 0-based (the first update is s = 0); during warm-up the factor is (s + 1) / warmup_steps, so the first
/// update is never wasted at lr 0.
/// </summary>
public sealed record LrSchedule
{
    public const string Constant = "constant";
    public const string Cosine = "cosine";

    public string Kind { get; init; } = Constant;
    public long WarmupSteps { get; init; }
    public double MinLrRatio { get; init; }

    public LrSchedule Validate(string source)
    {
        if (Kind != Constant && Kind != Cosine)
            throw new SonicException($"{source}: lr_schedule.kind '{Kind}' is unknown (use '{Constant}' or '{Cosine}')");
        if (WarmupSteps < 0) throw new SonicException($"{source}: lr_schedule.warmup_steps {WarmupSteps} must be >= 0");
        if (MinLrRatio is < 0 or > 1 || double.IsNaN(MinLrRatio))
            throw new SonicException($"{source}: lr_schedule.min_lr_ratio {MinLrRatio} must be in [0, 1]");
        return this;
    }

    /// <summary>The multiplier for update <paramref name="step"/> (0-based) of a run of <paramref name="totalSteps"/> updates.</summary>
    public double Factor(long step, long totalSteps)
    {
        if (step < 0) throw new ArgumentOutOfRangeException(nameof(step), step, "step must be >= 0");
        if (step < WarmupSteps) return (step + 1) / (double)WarmupSteps;
        if (Kind == Constant) return 1.0;
        double span = Math.Max(1, totalSteps - WarmupSteps);
        double progress = Math.Clamp((step - WarmupSteps) / span, 0.0, 1.0);
        return MinLrRatio + (1.0 - MinLrRatio) * 0.5 * (1.0 + Math.Cos(Math.PI * progress));
    }
}
