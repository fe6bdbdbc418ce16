using System.Text.Json.Serialization;
using SonicDiffusion.Core;

namespace SonicDiffusion.Schedulers;

/// <summary>
/// A diffusers <c>scheduler/scheduler_config.json</c>. Keys whose default differs between scheduler classes are
/// nullable; each scheduler fills in its own class default (as diffusers' <c>from_config</c> does).
/// </summary>
public sealed record SchedulerConfig
{
    [JsonPropertyName("_class_name")] public string? ClassName { get; init; }
    public int NumTrainTimesteps { get; init; } = 1000;
    public double BetaStart { get; init; } = 0.0001;
    public double BetaEnd { get; init; } = 0.02;
    /// <summary><c>linear</c>, <c>scaled_linear</c> (SD) or <c>squaredcos_cap_v2</c>.</summary>
    public string BetaSchedule { get; init; } = "linear";
    public double[]? TrainedBetas { get; init; }
    /// <summary>Final "previous" ᾱ of DDIM/PNDM: 1 when true, ᾱ_0 when false. Class default: DDIM true, PNDM false.</summary>
    public bool? SetAlphaToOne { get; init; }
    public int StepsOffset { get; init; }
    /// <summary>DDIM only; class default true.</summary>
    public bool? ClipSample { get; init; }
    public double ClipSampleRange { get; init; } = 1.0;
    /// <summary><c>leading</c>, <c>linspace</c> or <c>trailing</c>; null = class default (DDIM/PNDM leading, DPM-Solver linspace).</summary>
    public string? TimestepSpacing { get; init; }
    /// <summary><c>epsilon</c>, <c>v_prediction</c> or <c>sample</c>.</summary>
    public string PredictionType { get; init; } = "epsilon";
    /// <summary>PNDM only; class default false (Runge-Kutta warm-up, not supported here). SD v1 sets true.</summary>
    public bool? SkipPrkSteps { get; init; }
    public bool Thresholding { get; init; }
    public bool RescaleBetasZeroSnr { get; init; }

    // DPMSolverMultistepScheduler keys (diffusers defaults).
    public int SolverOrder { get; init; } = 2;
    public string AlgorithmType { get; init; } = "dpmsolver++";
    public string SolverType { get; init; } = "midpoint";
    public bool LowerOrderFinal { get; init; } = true;
    public bool EulerAtFinal { get; init; }
    public string FinalSigmasType { get; init; } = "zero";
    public bool UseKarrasSigmas { get; init; }
    public bool UseLuLambdas { get; init; }

    /// <summary>Where this config came from (file path), for error messages.</summary>
    [JsonIgnore] public string Source { get; init; } = "scheduler config";

    /// <summary>SD v1.4 / v1.5 <c>scheduler/scheduler_config.json</c> (PNDMScheduler).</summary>
    public static SchedulerConfig StableDiffusionV1 { get; } = new()
    {
        ClassName = "PNDMScheduler",
        NumTrainTimesteps = 1000,
        BetaStart = 0.00085,
        BetaEnd = 0.012,
        BetaSchedule = "scaled_linear",
        TrainedBetas = null,
        SetAlphaToOne = false,
        StepsOffset = 1,
        ClipSample = false,
        SkipPrkSteps = true,
        PredictionType = "epsilon",
        Source = "Stable Diffusion v1 scheduler config",
    };

    /// <summary>Reads a scheduler_config.json; a folder may be given (its <c>scheduler/scheduler_config.json</c> or <c>scheduler_config.json</c>).</summary>
    public static SchedulerConfig Load(string path)
    {
        if (Directory.Exists(path))
        {
            var nested = Path.Combine(path, "scheduler", "scheduler_config.json");
            var flat = Path.Combine(path, "scheduler_config.json");
            path = File.Exists(nested) ? nested : flat;
        }
        return ConfigJson.Read<SchedulerConfig>(path) with { Source = path };
    }

    public static SchedulerConfig Parse(string json, string source) => ConfigJson.Parse<SchedulerConfig>(json, source) with { Source = source };

    internal PredictionKind Prediction(params PredictionKind[] supported)
    {
        var kind = PredictionType switch
        {
            "epsilon" => PredictionKind.Epsilon,
            "v_prediction" => PredictionKind.VPrediction,
            "sample" => PredictionKind.Sample,
            _ => (PredictionKind)(-1),
        };
        if (!supported.Contains(kind))
            throw new SonicException($"{Source}: prediction_type '{PredictionType}' is not supported by this scheduler (use {string.Join(", ", supported.Select(Name))})");
        return kind;

        static string Name(PredictionKind k) => k switch
        {
            PredictionKind.Epsilon => "epsilon",
            PredictionKind.VPrediction => "v_prediction",
            _ => "sample",
        };
    }

    internal string Spacing(string classDefault)
    {
        var s = TimestepSpacing ?? classDefault;
        if (s is not ("leading" or "linspace" or "trailing"))
            throw new SonicException($"{Source}: timestep_spacing '{s}' is not supported (use leading, linspace or trailing)");
        return s;
    }

    internal void RejectUnsupported()
    {
        if (Thresholding) throw new SonicException($"{Source}: thresholding true is not supported (Stable Diffusion uses false)");
        if (RescaleBetasZeroSnr) throw new SonicException($"{Source}: rescale_betas_zero_snr true is not supported");
    }
}
