using System.CommandLine;
using SonicDiffusion.Core;

namespace SonicDiffusion.Cli.Commands;

public static class InfoCommand
{
    public static Command Create()
    {
        var cmd = new Command("info", "Print the runtime: TorchSharp and libtorch versions, threads, CUDA availability, CPU flags, the cached convolution verdicts and the measured fp32 peak");
        cmd.SetAction(_ =>
        {
            Console.WriteLine(TorchRuntime.Describe());
            Console.WriteLine($"cuda available: {TorchSharp.torch.cuda.is_available()}");
            Console.WriteLine($"cpu: {Diagnostics.CpuInfo.Current}");
            Console.WriteLine($"cpu kernels: {CpuKernels.Describe()}");
            Console.WriteLine($"convolution verdicts: {ConvolutionVerdicts.Describe()}");
            foreach (var v in ConvolutionVerdicts.All.Where(v => !v.OneDnnRight))
                Console.WriteLine($"  ATen: {v.Shape} (oneDNN off by {v.RelativeError:0.0e0} of the largest output)");
            int threads = TorchSharp.torch.get_num_threads();
            Console.WriteLine(Diagnostics.CpuPeak.IsSupported
                ? $"cpu fp32 FMA peak: {Diagnostics.CpuPeak.MeasureFloat32Gflops(threads):0} GFLOP/s on {threads} threads (measured now), {Diagnostics.CpuPeak.MeasureFloat32Gflops(1):0} GFLOP/s on 1"
                : "cpu fp32 FMA peak: not measured (needs x86 FMA or AVX-512)");
            return 0;
        });
        return cmd;
    }
}
