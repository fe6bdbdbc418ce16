using TorchSharp;

namespace SonicDiffusion.Core;

/// <summary>Process-wide TorchSharp set-up: device parsing and a check that libtorch loads.</summary>
public static class TorchRuntime
{
    public static torch.Device ParseDevice(string? name)
    {
        var n = (name ?? "cpu").Trim().ToLowerInvariant();
        if (n == "cpu") return torch.CPU;
        if (n.StartsWith("cuda", StringComparison.Ordinal))
        {
            if (!torch.cuda.is_available())
                throw new SonicException($"--device {name}: CUDA is not available in this build (the CPU libtorch package is referenced; see README 'GPU').");
            return new torch.Device(n);
        }
        throw new SonicException($"--device {name}: unknown device (use cpu or cuda[:N]).");
    }

    /// <summary>
    /// Refuses compute dtypes that the device cannot run at a useful speed: float16 on the CPU (no fp16 kernels), and
    /// bfloat16 on a CPU without bf16 dot products (libtorch falls back to reference convolutions, measured ~370×
    /// slower than float32 on an AVX2-only AMD EPYC) or with oneDNN capped below its bf16 kernels by the user's
    /// <c>ONEDNN_MAX_CPU_ISA</c> (measured 80× slower than float32 on an AMD EPYC Zen 5).
    /// </summary>
    public static void CheckComputeDtype(torch.ScalarType dtype, torch.Device? device, string what = "--dtype")
    {
        if (device is not null && device.type != DeviceType.CPU) return;
        if (dtype == torch.ScalarType.Float16)
            throw new SonicException($"{what} float16: half-precision compute is not supported on the CPU (use float32)");
        if (dtype == torch.ScalarType.BFloat16 && !Diagnostics.CpuInfo.Current.HasBf16Compute)
            throw new SonicException($"{what} bfloat16: this CPU ({Diagnostics.CpuInfo.Current.ModelName}, {Diagnostics.CpuInfo.Current.VectorIsa}) has no AVX512_BF16/AMX, so libtorch runs bfloat16 convolutions on a reference kernel hundreds of times slower than float32; use float32");
        if (dtype == torch.ScalarType.BFloat16 && CpuKernels.OneDnnIsa is { } isa && !HasBf16Kernels(isa))
            throw new SonicException($"{what} bfloat16: oneDNN is capped at {CpuKernels.OneDnnIsaVariable}={isa}, which has no bf16 kernels, so bfloat16 convolutions would run about 80× slower than float32; use float32, or unset {CpuKernels.OneDnnIsaVariable} (wrong oneDNN shapes run through ATen by their verdict either way)");
    }

    /// <summary>The name a compute dtype goes by on the command line and in PNG metadata: float32, bfloat16, float16, float64.</summary>
    public static string DtypeName(torch.ScalarType dtype) => dtype switch
    {
        torch.ScalarType.Float32 => "float32", torch.ScalarType.BFloat16 => "bfloat16", torch.ScalarType.Float16 => "float16", torch.ScalarType.Float64 => "float64",
        _ => dtype.ToString().ToLowerInvariant(),
    };

    /// <summary>
    /// What <c>--dtype auto</c> (the CLI's default) computes in: bfloat16 on a CPU with bf16 dot products
    /// (AVX512_BF16/AMX) while oneDNN is on and not capped below its bf16 kernels — shapes whose bf16 oneDNN kernels are
    /// wrong run through ATen by their verdict (<see cref="ConvolutionVerdicts"/>), the narrow output convolutions in
    /// float32 — and float32 everywhere else (other CPUs, oneDNN off, CUDA).
    /// </summary>
    public static torch.ScalarType AutoComputeDtype(torch.Device? device)
    {
        if (device is not null && device.type != DeviceType.CPU) return torch.ScalarType.Float32;
        bool bf16 = Diagnostics.CpuInfo.Current.HasBf16Compute && CpuKernels.OneDnn == true && (CpuKernels.OneDnnIsa is not { } isa || HasBf16Kernels(isa));
        return bf16 ? torch.ScalarType.BFloat16 : torch.ScalarType.Float32;
    }

    /// <summary>oneDNN instruction-set caps (its ONEDNN_MAX_CPU_ISA names) that still include bf16 dot products.</summary>
    private static bool HasBf16Kernels(string isa)
    {
        var name = isa.Trim().ToUpperInvariant();
        return name is "ALL" or "DEFAULT" || name.Contains("BF16", StringComparison.Ordinal) || name.Contains("AMX", StringComparison.Ordinal)
            || name.StartsWith("AVX10", StringComparison.Ordinal);
    }

    /// <summary>Returns the libtorch version string after forcing the native library to load.</summary>
    public static string Describe()
    {
        using var t = torch.ones(2, 2);
        var sum = t.sum().item<float>();
        return $"TorchSharp {typeof(torch).Assembly.GetName().Version}, libtorch {torch.__version__}, threads {torch.get_num_threads()}, check {sum}";
    }
}
