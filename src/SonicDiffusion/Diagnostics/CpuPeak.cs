using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace SonicDiffusion.Diagnostics;

/// <summary>
/// Measures this machine's float32 fused-multiply-add peak (GFLOP/s) with independent vector FMA chains on every
/// thread — the bound the benchmarks compare against, measured rather than assumed from a datasheet.
/// </summary>
public static class CpuPeak
{
    private const int Chains = 8;
    private const int InnerRepeats = 1024;

    /// <summary>The measurement needs x86 FMA (AVX2) or AVX-512.</summary>
    public static bool IsSupported => Avx512F.IsSupported || Fma.IsSupported;

    public static double MeasureFloat32Gflops(int threads, TimeSpan? duration = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        if (!IsSupported)
            throw new PlatformNotSupportedException("the fp32 peak measurement needs x86 FMA (AVX2) or AVX-512");
        int lanes = Avx512F.IsSupported ? 16 : 8;
        var target = duration ?? TimeSpan.FromMilliseconds(300);

        // Calibrate on one thread: the kernel has no calls inside its loops, so its vector chains stay in registers.
        long outer = 16;
        while (true)
        {
            var sw = Stopwatch.StartNew();
            Kernel(outer);
            if (sw.Elapsed >= target / 8 || outer > 1L << 40) break;
            outer *= 2;
        }
        outer *= 8;

        double best = 0;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            var sw = Stopwatch.StartNew();
            var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() => Kernel(outer)) { IsBackground = true }).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());
            double flops = (double)threads * outer * InnerRepeats * Chains * lanes * 2;
            best = Math.Max(best, flops / sw.Elapsed.TotalSeconds / 1e9);
        }
        return best;
    }

    private static float Kernel(long outer) => Avx512F.IsSupported ? Chains512(outer) : Chains256(outer);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains256(long outer)
    {
        var a = Vector256.Create(0.999999f);
        var b = Vector256.Create(1e-7f);
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (long o = 0; o < outer; o++)
        {
            for (int i = 0; i < InnerRepeats; i++)
            {
                c0 = Fma.MultiplyAdd(c0, a, b); c1 = Fma.MultiplyAdd(c1, a, b);
                c2 = Fma.MultiplyAdd(c2, a, b); c3 = Fma.MultiplyAdd(c3, a, b);
                c4 = Fma.MultiplyAdd(c4, a, b); c5 = Fma.MultiplyAdd(c5, a, b);
                c6 = Fma.MultiplyAdd(c6, a, b); c7 = Fma.MultiplyAdd(c7, a, b);
            }
        }
        return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7).GetElement(0);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains512(long outer)
    {
        var a = Vector512.Create(0.999999f);
        var b = Vector512.Create(1e-7f);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default, c6 = default, c7 = default;
        for (long o = 0; o < outer; o++)
        {
            for (int i = 0; i < InnerRepeats; i++)
            {
                c0 = Avx512F.FusedMultiplyAdd(c0, a, b); c1 = Avx512F.FusedMultiplyAdd(c1, a, b);
                c2 = Avx512F.FusedMultiplyAdd(c2, a, b); c3 = Avx512F.FusedMultiplyAdd(c3, a, b);
                c4 = Avx512F.FusedMultiplyAdd(c4, a, b); c5 = Avx512F.FusedMultiplyAdd(c5, a, b);
                c6 = Avx512F.FusedMultiplyAdd(c6, a, b); c7 = Avx512F.FusedMultiplyAdd(c7, a, b);
            }
        }
        return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7).GetElement(0);
    }
}
