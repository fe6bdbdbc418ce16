using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace SonicDiffusion.Diagnostics;

/// <summary>
/// Measures this machine's float32 fused-multiply-add peak (GFLOP/s) with independent vector FMA chains on every
/// thread — the bound the benchmarks compare against, measured rather than assumed from a datasheet.
/// </summary>
public static class CpuPeak
{
    public static double MeasureFloat32Gflops(int threads, TimeSpan? duration = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        var d = duration ?? TimeSpan.FromMilliseconds(300);
        double best = 0;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            long iterations = 0;
            var sw = Stopwatch.StartNew();
            var workers = Enumerable.Range(0, threads).Select(_ => new Thread(() =>
            {
                long n = Vector512.IsHardwareAccelerated ? Chains512(d) : Chains256(d);
                Interlocked.Add(ref iterations, n);
            }) { IsBackground = true }).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());
            double seconds = sw.Elapsed.TotalSeconds;
            int lanes = Vector512.IsHardwareAccelerated ? 16 : 8;
            best = Math.Max(best, iterations * (double)ChainCount * lanes * 2 * InnerRepeats / seconds / 1e9);
        }
        return best;
    }

    private const int ChainCount = 12;
    private const int InnerRepeats = 1024;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long Chains256(TimeSpan duration)
    {
        var a = Vector256.Create(0.999999f);
        var b = Vector256.Create(1e-7f);
        Vector256<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default,
            c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
        long n = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < duration)
        {
            for (int i = 0; i < InnerRepeats; i++)
            {
                c0 = Vector256.FusedMultiplyAdd(c0, a, b); c1 = Vector256.FusedMultiplyAdd(c1, a, b);
                c2 = Vector256.FusedMultiplyAdd(c2, a, b); c3 = Vector256.FusedMultiplyAdd(c3, a, b);
                c4 = Vector256.FusedMultiplyAdd(c4, a, b); c5 = Vector256.FusedMultiplyAdd(c5, a, b);
                c6 = Vector256.FusedMultiplyAdd(c6, a, b); c7 = Vector256.FusedMultiplyAdd(c7, a, b);
                c8 = Vector256.FusedMultiplyAdd(c8, a, b); c9 = Vector256.FusedMultiplyAdd(c9, a, b);
                c10 = Vector256.FusedMultiplyAdd(c10, a, b); c11 = Vector256.FusedMultiplyAdd(c11, a, b);
            }
            n++;
        }
        Sink = (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).GetElement(0);
        return n;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static long Chains512(TimeSpan duration)
    {
        var a = Vector512.Create(0.999999f);
        var b = Vector512.Create(1e-7f);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default,
            c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
        long n = 0;
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < duration)
        {
            for (int i = 0; i < InnerRepeats; i++)
            {
                c0 = Vector512.FusedMultiplyAdd(c0, a, b); c1 = Vector512.FusedMultiplyAdd(c1, a, b);
                c2 = Vector512.FusedMultiplyAdd(c2, a, b); c3 = Vector512.FusedMultiplyAdd(c3, a, b);
                c4 = Vector512.FusedMultiplyAdd(c4, a, b); c5 = Vector512.FusedMultiplyAdd(c5, a, b);
                c6 = Vector512.FusedMultiplyAdd(c6, a, b); c7 = Vector512.FusedMultiplyAdd(c7, a, b);
                c8 = Vector512.FusedMultiplyAdd(c8, a, b); c9 = Vector512.FusedMultiplyAdd(c9, a, b);
                c10 = Vector512.FusedMultiplyAdd(c10, a, b); c11 = Vector512.FusedMultiplyAdd(c11, a, b);
            }
            n++;
        }
        Sink = (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).GetElement(0);
        return n;
    }

    internal static float Sink { get; private set; }
}
