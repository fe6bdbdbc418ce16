using System.CommandLine;
using System.Globalization;
using SonicDiffusion.Core;
using SonicDiffusion.Diagnostics;
using SonicDiffusion.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Cli.Commands;

/// <summary>`sonic bench`: speed of the SD v1-size networks with random weights, against their FLOP counts.</summary>
public static class BenchCommand
{
    /// <summary>fp32 AVX-512 FMA peak of this project's 2-core machine (torchsharp-probe.md), GFLOP/s.</summary>
    public const double MachinePeakGflops = 509;

    public static Command Create()
    {
        var cmd = new Command("bench", "Measure speed (random weights of the real SD v1 size; not a test)");
        cmd.Subcommands.Add(UNet());
        cmd.Subcommands.Add(VaeDecode());
        return cmd;
    }

    private static Option<string> Batches() => new("--batch") { Description = "Comma-separated batch sizes", DefaultValueFactory = _ => "1,2" };
    private static Option<string> Dtypes() => new("--dtypes") { Description = "Comma-separated dtypes", DefaultValueFactory = _ => "float32,bfloat16" };
    private static Option<int> Latent() => new("--latent") { Description = "Latent side (64 = 512² images)", DefaultValueFactory = _ => 64 };
    private static Option<int> Repeat() => new("--repeat") { Description = "Timed runs per setting (after one warm-up)", DefaultValueFactory = _ => 3 };

    private static Command UNet()
    {
        var batch = Batches();
        var dtypes = Dtypes();
        var latent = Latent();
        var repeat = Repeat();
        var device = CommonOptions.Device();
        var cmd = new Command("unet", "UNet forward passes of SD v1 size") { batch, dtypes, latent, repeat, device };
        cmd.SetAction(pr =>
        {
            var dev = TorchRuntime.ParseDevice(pr.GetValue(device));
            int side = pr.GetValue(latent);
            double gmacs = UNetCost.StableDiffusionV1(side, side).TotalMacs / 1e9;
            Console.WriteLine(TorchRuntime.Describe());
            Console.WriteLine($"SD v1 UNet, {side}x{side} latent, 77-token context: {2 * gmacs:0.0} GFLOP per image-pass");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            torch.manual_seed(0);
            using var unet = new UNet2DConditionModel(new UNet2DConditionConfig());
            unet.eval();
            Console.WriteLine($"built {unet.parameters().Sum(p => p.numel()):N0} parameters in {sw.Elapsed.TotalSeconds:0.0} s");
            foreach (var dtypeName in Split(pr.GetValue(dtypes)!))
            {
                var dtype = CommonOptions.ParseDtype(dtypeName);
                unet.to(dtype).to(dev);
                foreach (int b in Split(pr.GetValue(batch)!).Select(s => int.Parse(s, CultureInfo.InvariantCulture)))
                {
                    using var mode = torch.inference_mode();
                    using var x = torch.randn(new long[] { b, 4, side, side }, dtype: dtype, device: dev);
                    using var ctx = torch.randn(new long[] { b, 77, 768 }, dtype: dtype, device: dev);
                    using var t = torch.full(new long[] { b }, 500, dtype: ScalarType.Int64, device: dev);
                    var timing = Timing.Measure(() => { using var s = torch.NewDisposeScope(); unet.forward(x, t, ctx); }, 1, pr.GetValue(repeat));
                    Report($"unet {dtypeName} batch {b}", timing, 2 * gmacs * b);
                }
            }
            return 0;
        });
        return cmd;
    }

    private static Command VaeDecode()
    {
        var batch = Batches();
        var dtypes = Dtypes();
        var latent = Latent();
        var repeat = Repeat();
        var device = CommonOptions.Device();
        var cmd = new Command("vae-decode", "VAE decodes of SD v1 size") { batch, dtypes, latent, repeat, device };
        cmd.SetAction(pr =>
        {
            var dev = TorchRuntime.ParseDevice(pr.GetValue(device));
            int side = pr.GetValue(latent);
            double gmacs = VaeCost.StableDiffusionV1DecodeMacs(side, side) / 1e9;
            Console.WriteLine(TorchRuntime.Describe());
            Console.WriteLine($"SD v1 VAE decode, {side}x{side} latent → {side * 8}² image: {2 * gmacs:0.0} GFLOP per image");
            torch.manual_seed(0);
            using var vae = new AutoencoderKL(new AutoencoderKLConfig());
            vae.eval();
            foreach (var dtypeName in Split(pr.GetValue(dtypes)!))
            {
                var dtype = CommonOptions.ParseDtype(dtypeName);
                vae.to(dtype).to(dev);
                foreach (int b in Split(pr.GetValue(batch)!).Select(s => int.Parse(s, CultureInfo.InvariantCulture)))
                {
                    using var mode = torch.inference_mode();
                    using var z = torch.randn(new long[] { b, 4, side, side }, dtype: dtype, device: dev);
                    var timing = Timing.Measure(() => { using var s = torch.NewDisposeScope(); vae.DecodeLatents(z); }, 1, pr.GetValue(repeat));
                    Report($"vae-decode {dtypeName} batch {b}", timing, 2 * gmacs * b);
                }
            }
            return 0;
        });
        return cmd;
    }

    private static string[] Split(string s) => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static void Report(string label, Timing timing, double gflop)
    {
        double best = timing.Best;
        double achieved = gflop / (best / 1000);
        Console.WriteLine($"{label}: best {best:0} ms, median {timing.Median:0} ms per pass; {achieved:0} GFLOP/s = {100 * achieved / MachinePeakGflops:0}% of the {MachinePeakGflops} GFLOP/s fp32 peak");
    }
}
