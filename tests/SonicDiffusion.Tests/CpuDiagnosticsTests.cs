using SonicDiffusion.Core;
using SonicDiffusion.Diagnostics;
using TorchSharp;
using Xunit;

namespace SonicDiffusion.Tests;

public class CpuDiagnosticsTests
{
    private const string ZenCpuinfo = """
        processor	: 0
        vendor_id	: AuthenticAMD
        model name	: AMD EPYC
        flags		: fpu sse sse2 fma avx avx2 bmi2
        
        processor	: 1
        model name	: AMD EPYC
        flags		: fpu sse sse2 fma avx avx2 bmi2
        """;

    private const string SapphireCpuinfo = """
        processor	: 0
        model name	: Intel(R) Xeon(R) Platinum 8480+
        flags		: fpu fma avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile
        """;

    [Fact]
    public void Parse_reads_model_name_and_first_flags_line()
    {
        var zen = CpuInfo.Parse(ZenCpuinfo, 2);
        Assert.Equal("AMD EPYC", zen.ModelName);
        Assert.Equal("AVX2", zen.VectorIsa);
        Assert.False(zen.HasAvx512);
        Assert.False(zen.HasBf16Compute);
        Assert.Contains("bf16 dot products: no", zen.ToString());

        var spr = CpuInfo.Parse(SapphireCpuinfo, 4);
        Assert.True(spr.HasAvx512);
        Assert.True(spr.HasBf16Compute);
        Assert.Equal("AVX-512", spr.VectorIsa);
    }

    [Fact]
    public void Float16_is_refused_on_cpu_and_bfloat16_only_with_bf16_hardware_and_kernels()
    {
        var e = Assert.Throws<SonicException>(() => TorchRuntime.CheckComputeDtype(torch.ScalarType.Float16, torch.CPU));
        Assert.Contains("float16", e.Message);
        TorchRuntime.CheckComputeDtype(torch.ScalarType.Float32, torch.CPU);
        if (CpuInfo.Current.HasBf16Compute && CpuKernels.OneDnnIsa is "AVX2")
        {
            // The user capped oneDNN below its bf16 kernels on this AVX-512 CPU (ONEDNN_MAX_CPU_ISA=AVX2).
            var c = Assert.Throws<SonicException>(() => TorchRuntime.CheckComputeDtype(torch.ScalarType.BFloat16, torch.CPU));
            Assert.Contains("ONEDNN_MAX_CPU_ISA=AVX2", c.Message);
            Assert.DoesNotContain('\n', c.Message);
        }
        else if (CpuInfo.Current.HasBf16Compute)
            TorchRuntime.CheckComputeDtype(torch.ScalarType.BFloat16, torch.CPU);
        else
        {
            var b = Assert.Throws<SonicException>(() => TorchRuntime.CheckComputeDtype(torch.ScalarType.BFloat16, torch.CPU));
            Assert.Contains("bfloat16", b.Message);
            Assert.Contains(CpuInfo.Current.ModelName, b.Message);
            Assert.DoesNotContain('\n', b.Message);
        }
    }

    [Fact]
    public void Auto_dtype_is_bfloat16_only_with_bf16_hardware_and_oneDnn_on()
    {
        Assert.Equal(torch.ScalarType.Float32, TorchRuntime.AutoComputeDtype(new torch.Device("cuda")));
        bool bf16Kernels = CpuKernels.OneDnnIsa is null or "ALL" or "AVX512_CORE_BF16" or "AVX512_CORE_AMX";
        bool before = CpuKernels.OneDnn ?? throw new InvalidOperationException("libtorch's oneDNN switch is not reachable");
        try
        {
            Assert.True(CpuKernels.TrySetOneDnn(true));
            Assert.Equal(CpuInfo.Current.HasBf16Compute && bf16Kernels ? torch.ScalarType.BFloat16 : torch.ScalarType.Float32, TorchRuntime.AutoComputeDtype(torch.CPU));
            using (CpuKernels.OneDnnOff())
                Assert.Equal(torch.ScalarType.Float32, TorchRuntime.AutoComputeDtype(torch.CPU));
        }
        finally { CpuKernels.TrySetOneDnn(before); }
    }

    [Fact]
    public void Peak_measurement_is_positive()
    {
        double one = CpuPeak.MeasureFloat32Gflops(1, TimeSpan.FromMilliseconds(30));
        Assert.InRange(one, 0.5, 1000);
        Assert.Throws<ArgumentOutOfRangeException>(() => CpuPeak.MeasureFloat32Gflops(0));
    }

    [Fact]
    public void SectionProfiler_counts_sections_only_while_started()
    {
        using (SectionProfiler.Measure("before")) { }
        SectionProfiler.Start();
        for (int i = 0; i < 3; i++)
            using (SectionProfiler.Measure("work")) Thread.Sleep(2);
        var sections = SectionProfiler.Stop();
        using (SectionProfiler.Measure("after")) { }
        Assert.Equal(["work"], sections.Keys);
        Assert.Equal(3, sections["work"].Count);
        Assert.InRange(sections["work"].Milliseconds, 5.0, 5000.0);
        Assert.Empty(SectionProfiler.Stop());
    }
}
