using SonicDiffusion.Core;

namespace SonicDiffusion.Schedulers;

/// <summary>Builds a scheduler by name (ddim, pndm, dpm++2m, with aliases) or from a diffusers scheduler config's <c>_class_name</c>.</summary>
public static class SchedulerFactory
{
    public static IReadOnlyList<string> Names { get; } = ["ddim", "pndm", "dpm++2m"];

    /// <summary>Creates the named scheduler from <paramref name="config"/> (default: <see cref="SchedulerConfig.StableDiffusionV1"/>).</summary>
    public static IScheduler Create(string name, SchedulerConfig? config = null)
    {
        config ??= SchedulerConfig.StableDiffusionV1;
        return Canonical(name) switch
        {
            "ddim" => new DdimScheduler(config),
            "pndm" => new PndmScheduler(config),
            "dpm++2m" => new DpmSolverMultistepScheduler(config),
            _ => throw new SonicException($"unknown scheduler '{name}' (use {string.Join(", ", Names)})"),
        };
    }

    /// <summary>Creates the scheduler class the config names (DDIMScheduler, PNDMScheduler, DPMSolverMultistepScheduler).</summary>
    public static IScheduler FromConfig(SchedulerConfig config) => config.ClassName switch
    {
        "DDIMScheduler" => new DdimScheduler(config),
        "PNDMScheduler" => new PndmScheduler(config),
        "DPMSolverMultistepScheduler" => new DpmSolverMultistepScheduler(config),
        null => throw new SonicException($"{config.Source}: _class_name is missing (expected DDIMScheduler, PNDMScheduler or DPMSolverMultistepScheduler)"),
        var other => throw new SonicException($"{config.Source}: _class_name '{other}' is not supported (use DDIMScheduler, PNDMScheduler or DPMSolverMultistepScheduler)"),
    };

    /// <summary>Reads a scheduler_config.json (or a model folder holding one) and creates its class.</summary>
    public static IScheduler Load(string path) => FromConfig(SchedulerConfig.Load(path));

    /// <summary>The canonical name for a name or alias, or null if unknown.</summary>
    public static string? Canonical(string name) => name.Trim().ToLowerInvariant() switch
    {
        "ddim" => "ddim",
        "pndm" or "plms" => "pndm",
        "dpm++2m" or "dpmpp2m" or "dpmpp_2m" or "dpm++" or "dpmsolver++" or "dpm-solver++" or "dpmsolvermultistep" => "dpm++2m",
        _ => null,
    };
}
