using System.Runtime.Intrinsics.X86;

namespace SonicDiffusion.Diagnostics;

/// <summary>What the CPU offers the tensor kernels: model name, core count and the instruction-set flags that decide
/// which oneDNN/MKL code paths libtorch can take.</summary>
public sealed record CpuInfo(string ModelName, int LogicalCores, IReadOnlySet<string> Flags)
{
    private static readonly Lazy<CpuInfo> CurrentLazy = new(Read);

    public static CpuInfo Current => CurrentLazy.Value;

    public bool HasAvx512 => Flags.Contains("avx512f");

    /// <summary>Hardware bf16 dot products (AVX512_BF16 or AMX). Without them libtorch's CPU convolutions in bfloat16
    /// fall back to a reference kernel that is hundreds of times slower than float32.</summary>
    public bool HasBf16Compute => Flags.Contains("avx512_bf16") || Flags.Contains("amx_bf16");

    public string VectorIsa => HasAvx512 ? "AVX-512" : Flags.Contains("avx2") ? "AVX2" : "SSE";

    public override string ToString() =>
        $"{ModelName}, {LogicalCores} logical cores, {VectorIsa}{(Flags.Contains("fma") ? "+FMA" : "")}, bf16 dot products: {(HasBf16Compute ? "yes" : "no")}";

    public static CpuInfo Parse(string procCpuinfo, int logicalCores)
    {
        string model = "unknown CPU";
        var flags = new HashSet<string>(StringComparer.Ordinal);
        foreach (var line in procCpuinfo.Split('\n'))
        {
            int colon = line.IndexOf(':');
            if (colon < 0) continue;
            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (key == "model name" && model == "unknown CPU") model = value;
            else if (key == "flags" && flags.Count == 0)
                flags.UnionWith(value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        }
        return new CpuInfo(model, logicalCores, flags);
    }

    private static CpuInfo Read()
    {
        const string path = "/proc/cpuinfo";
        if (File.Exists(path)) return Parse(File.ReadAllText(path), Environment.ProcessorCount);
        var flags = new HashSet<string>(StringComparer.Ordinal);
        if (Avx2.IsSupported) flags.Add("avx2");
        if (Fma.IsSupported) flags.Add("fma");
        if (Avx512F.IsSupported) flags.Add("avx512f");
        return new CpuInfo("unknown CPU", Environment.ProcessorCount, flags);
    }
}
