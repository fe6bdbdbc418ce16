using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;

namespace SonicDiffusion.Training;

/// <summary>
/// Settings of one training run (saved as the "training" object of the run's config.json, snake_case keys).
/// On resume every key must match the saved run except the operational ones in <see cref="OperationalKeys"/>
/// (total_steps, checkpoint and logging cadence), which may change.
/// </summary>
public sealed record TrainingConfig
{
    public long Seed { get; init; }
    public long TotalSteps { get; init; } = 1000;
    public int BatchSize { get; init; } = 1;
    public bool DropLast { get; init; } = true;

    public double LearningRate { get; init; } = 1e-4;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;
    public double WeightDecay { get; init; } = 0.01;
    public LrSchedule LrSchedule { get; init; } = new();
    /// <summary>Clip gradients to this global L2 norm; null = no clipping (the norm is still logged).</summary>
    public double? MaxGradNorm { get; init; } = 1.0;

    /// <summary>EMA of the trainable weights with this maximum decay; null = no EMA.</summary>
    public double? EmaDecay { get; init; }
    public bool EmaWarmup { get; init; } = true;

    public long CheckpointEvery { get; init; } = 500;
    /// <summary>Also checkpoint when this many minutes passed since the last one (long CPU runs); null = off.</summary>
    public double? CheckpointMinutes { get; init; }
    public int KeepLast { get; init; } = 3;
    public long LogEvery { get; init; } = 1;
    public bool PlotLoss { get; init; } = true;

    /// <summary>Keys that may differ between a saved run and its resumption.</summary>
    public static readonly IReadOnlySet<string> OperationalKeys = new HashSet<string>(StringComparer.Ordinal)
    {
        "total_steps", "checkpoint_every", "checkpoint_minutes", "keep_last", "log_every", "plot_loss",
    };

    public TrainingConfig Validate(string source)
    {
        if (TotalSteps < 0) throw new SonicException($"{source}: total_steps {TotalSteps} must be >= 0");
        if (BatchSize <= 0) throw new SonicException($"{source}: batch_size {BatchSize} must be > 0");
        if (LearningRate < 0 || double.IsNaN(LearningRate)) throw new SonicException($"{source}: learning_rate {LearningRate} must be >= 0");
        if (Beta1 is < 0 or >= 1) throw new SonicException($"{source}: beta1 {Beta1} must be in [0, 1)");
        if (Beta2 is < 0 or >= 1) throw new SonicException($"{source}: beta2 {Beta2} must be in [0, 1)");
        if (Eps < 0) throw new SonicException($"{source}: eps {Eps} must be >= 0");
        if (WeightDecay < 0 || double.IsNaN(WeightDecay)) throw new SonicException($"{source}: weight_decay {WeightDecay} must be >= 0");
        if (MaxGradNorm is { } m && !(m > 0)) throw new SonicException($"{source}: max_grad_norm {m} must be > 0 (or null for no clipping)");
        if (EmaDecay is { } d && d is < 0 or > 1) throw new SonicException($"{source}: ema_decay {d} must be in [0, 1] (or null for no EMA)");
        if (CheckpointEvery <= 0) throw new SonicException($"{source}: checkpoint_every {CheckpointEvery} must be > 0");
        if (CheckpointMinutes is { } cm && !(cm > 0)) throw new SonicException($"{source}: checkpoint_minutes {cm} must be > 0 (or null)");
        if (KeepLast <= 0) throw new SonicException($"{source}: keep_last {KeepLast} must be > 0");
        if (LogEvery <= 0) throw new SonicException($"{source}: log_every {LogEvery} must be > 0");
        LrSchedule.Validate(source);
        return this;
    }

    public JsonObject ToJson() => JsonSerializer.SerializeToNode(this, ConfigJson.Options)!.AsObject();

    /// <summary>Names of the non-operational keys whose values differ between two serialised configs.</summary>
    public static IReadOnlyList<string> Differences(JsonObject saved, JsonObject current, IReadOnlySet<string>? ignore = null)
    {
        var keys = saved.Select(kv => kv.Key).Union(current.Select(kv => kv.Key)).Where(k => ignore == null || !ignore.Contains(k));
        return keys.Where(k => !JsonNode.DeepEquals(saved[k], current[k])).OrderBy(k => k, StringComparer.Ordinal).ToList();
    }
}
