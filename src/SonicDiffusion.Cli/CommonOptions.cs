using System.CommandLine;
using System.Globalization;
using SonicDiffusion.Core;
using static TorchSharp.torch;

namespace SonicDiffusion.Cli;

/// <summary>Options shared by several commands, and their parsing into library values.</summary>
public static class CommonOptions
{
    public static Option<string> Device() => new("--device") { Description = "Compute device: cpu or cuda[:N]", DefaultValueFactory = _ => "cpu" };

    public static Option<string> Dtype() => new("--dtype")
    {
        Description = "Compute dtype: auto (bfloat16 on CPUs with AVX512_BF16/AMX, else float32), float32 or bfloat16 (default auto)",
        DefaultValueFactory = _ => "auto",
    };

    public static Option<bool> VaeTiling() => new("--vae-tiling")
    {
        Description = "Decode the image in 256-px tiles overlapping by half, blended (less memory; each tile's VAE attention sees only the tile, so the image differs a little from a whole decode)",
    };

    public static Pipelines.VaeTiling? ParseVaeTiling(bool on) => on ? new Pipelines.VaeTiling() : null;

    public static Option<int?> TorchThreads() => new("--threads")
    {
        Description = "torch intra-op threads (default: one per core; 1 is much faster for small models on a busy machine, see docs/benchmarks.md)",
    };

    /// <summary>Sets libtorch's intra-op thread count when <paramref name="threads"/> is given.</summary>
    public static void ApplyTorchThreads(int? threads)
    {
        if (threads is not { } t) return;
        if (t < 1) throw new SonicException($"--threads {t}: must be at least 1");
        TorchSharp.torch.set_num_threads(t);
    }

    public static Option<long> Seed() => new("--seed") { Description = "Random seed (the same seed reproduces the same image)", DefaultValueFactory = _ => 42 };

    public static Option<int> Steps(int defaultValue) => new("--steps") { Description = "Sampling steps", DefaultValueFactory = _ => defaultValue };

    public static Option<double> Guidance(double defaultValue) => new("--guidance") { Description = "Classifier-free guidance scale", DefaultValueFactory = _ => defaultValue };

    public static Option<string> Scheduler(string defaultValue) => new("--scheduler") { Description = "Sampler: pndm, ddim or dpm++2m", DefaultValueFactory = _ => defaultValue };

    public static Option<string> Size(string defaultValue) => new("--size") { Description = "Image size WxH or N (multiples of 8)", DefaultValueFactory = _ => defaultValue };

    public static Option<string?> FeatureSites() => new("--feature-sites")
    {
        Description = "PnP: decoder resnets whose residual features are injected, comma-separated (default: the official up_blocks.1.resnets.1,2)",
    };

    /// <summary>The names of <see cref="FeatureSites"/>; null when the option was not given (the official sites).</summary>
    public static IReadOnlyList<string>? ParseFeatureSites(string? s) =>
        s is null ? null : s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);

    /// <summary>The dtype <paramref name="s"/> names; auto resolved for <paramref name="device"/> (see <see cref="TorchRuntime.AutoComputeDtype"/>).</summary>
    public static ScalarType ParseDtype(string s, string? device) =>
        s.Trim().Equals("auto", StringComparison.OrdinalIgnoreCase) ? TorchRuntime.AutoComputeDtype(TorchRuntime.ParseDevice(device)) : ParseDtype(s);

    public static ScalarType ParseDtype(string s) => s.Trim().ToLowerInvariant() switch
    {
        "float32" or "fp32" or "f32" => ScalarType.Float32,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        "float16" or "fp16" or "f16" => throw new SonicException("--dtype float16: half-precision compute is not supported on the CPU (use float32 or bfloat16)"),
        _ => throw new SonicException($"--dtype {s}: unknown dtype (use auto, float32 or bfloat16)"),
    };

    public static (int Width, int Height) ParseSize(string s)
    {
        var parts = s.ToLowerInvariant().Split('x');
        if (parts.Length is 1 or 2 && parts.All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out var v) && v > 0))
        {
            int w = int.Parse(parts[0], CultureInfo.InvariantCulture);
            int h = parts.Length == 2 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : w;
            if (w % 8 == 0 && h % 8 == 0) return (w, h);
        }
        throw new SonicException($"--size {s}: expected WxH or N with positive multiples of 8, e.g. 512x512");
    }
}
