using System.CommandLine;
using System.Globalization;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Diagnostics;
using SonicDiffusion.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Cli.Commands;

/// <summary>`sonic bench`: speed of the SD v1-size networks with random weights, against their FLOP counts.</summary>
public static partial class BenchCommand
{
    private static readonly Lazy<double> MeasuredPeak = new(() =>
    {
        double peak = CpuPeak.MeasureFloat32Gflops(torch.get_num_threads());
        Console.WriteLine($"CPU: {CpuInfo.Current}; measured fp32 FMA peak on {torch.get_num_threads()} threads: {peak:0} GFLOP/s");
        return peak;
    });

    /// <summary>The dtypes of a --dtypes list that this device can run; the others are reported as skipped with the reason.</summary>
    private static IEnumerable<(string Name, ScalarType Dtype)> RunnableDtypes(string list, Device dev)
    {
        foreach (var name in Split(list))
        {
            var dtype = CommonOptions.ParseDtype(name);
            string? reason = null;
            try { TorchRuntime.CheckComputeDtype(dtype, dev); }
            catch (SonicException e) { reason = e.Message; }
            if (reason is null) yield return (name, dtype);
            else Console.WriteLine($"skipped: {reason}");
        }
    }

    public static Command Create()
    {
        var cmd = new Command("bench", "Measure speed (random weights of the real SD v1 size; not a test)");
        cmd.Subcommands.Add(UNet());
        cmd.Subcommands.Add(VaeDecode());
        cmd.Subcommands.Add(AudioEncode());
        cmd.Subcommands.Add(Adapters());
        cmd.Subcommands.Add(Edit());
        cmd.Subcommands.Add(Generate());
        cmd.Subcommands.Add(Kernels());
        cmd.Subcommands.Add(Load());
        cmd.Subcommands.Add(PaperEval());
        cmd.Subcommands.Add(BenchStage2Command.Create());
        return cmd;
    }

    private static Option<string> Batches() => new("--batch") { Description = "Comma-separated batch sizes", DefaultValueFactory = _ => "1,2" };
    private static Option<string> Dtypes() => new("--dtypes") { Description = "Comma-separated dtypes", DefaultValueFactory = _ => "float32,bfloat16" };
    private static Option<int> Latent() => new("--latent") { Description = "Latent side (64 = 512² images)", DefaultValueFactory = _ => 64 };
    /// <summary>The --latent value, refused below 8 (three downsamplings need a map to work on).</summary>
    private static int CheckedLatent(int side) =>
        side >= 8 ? side : throw new SonicException($"--latent {side}: give a latent side of at least 8 (64 = 512² images)");

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
            int side = CheckedLatent(pr.GetValue(latent));
            double gmacs = UNetCost.StableDiffusionV1(side, side).TotalMacs / 1e9;
            Console.WriteLine(TorchRuntime.Describe());
            Console.WriteLine($"SD v1 UNet, {side}x{side} latent, 77-token context: {2 * gmacs:0.0} GFLOP per image-pass");
            var sw = System.Diagnostics.Stopwatch.StartNew();
            torch.manual_seed(0);
            using var unet = new UNet2DConditionModel(new UNet2DConditionConfig());
            unet.eval();
            Console.WriteLine($"built {unet.parameters().Sum(p => p.numel()):N0} parameters in {sw.Elapsed.TotalSeconds:0.0} s");
            foreach (var (dtypeName, dtype) in RunnableDtypes(pr.GetValue(dtypes)!, dev))
            {
                unet.to(dtype).to(dev);
                CpuKernels.KeepNarrowConvolutionsInFloat32(unet, dtype, dev);
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
            int side = CheckedLatent(pr.GetValue(latent));
            double gmacs = VaeCost.StableDiffusionV1DecodeMacs(side, side) / 1e9;
            Console.WriteLine(TorchRuntime.Describe());
            Console.WriteLine($"SD v1 VAE decode, {side}x{side} latent → {side * 8}² image: {2 * gmacs:0.0} GFLOP per image");
            torch.manual_seed(0);
            using var vae = new AutoencoderKL(new AutoencoderKLConfig());
            vae.eval();
            foreach (var (dtypeName, dtype) in RunnableDtypes(pr.GetValue(dtypes)!, dev))
            {
                vae.to(dtype).to(dev);
                CpuKernels.KeepNarrowConvolutionsInFloat32(vae, dtype, dev);
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

    private static Command AudioEncode()
    {
        var repeat = Repeat();
        var rate = new Option<int>("--rate") { Description = "Sample rate of the synthetic 10-s clip (resampled to 44.1 kHz)", DefaultValueFactory = _ => 48000 };
        var channels = new Option<int>("--channels") { Description = "Channels of the synthetic clip", DefaultValueFactory = _ => 2 };
        var device = CommonOptions.Device();
        var cmd = new Command("audio", "Audio conditioning of one 10-s clip: decode, resample, log-mel, CNN14 (+ projection), projector, at real CLAP/SonicDiffusion size")
        {
            repeat, rate, channels, device,
        };
        cmd.SetAction(pr =>
        {
            var dev = TorchRuntime.ParseDevice(pr.GetValue(device));
            int sr = pr.GetValue(rate), ch = pr.GetValue(channels), n = pr.GetValue(repeat);
            Console.WriteLine(TorchRuntime.Describe());
            var path = Path.Combine(Path.GetTempPath(), $"sonic-bench-{Guid.NewGuid():N}.wav");
            try
            {
                var rng = new Random(0);
                var data = new float[ch][];
                for (int c = 0; c < ch; c++)
                {
                    data[c] = new float[10 * sr];
                    for (int i = 0; i < data[c].Length; i++) data[c][i] = (float)(0.3 * Math.Sin(2 * Math.PI * (220 + 110 * c) * i / sr) + 0.1 * (rng.NextDouble() - 0.5));
                }
                WavWriter.WritePcm16(path, new AudioClip(data, sr));
                Console.WriteLine($"clip: 10 s, {sr} Hz, {ch} ch, 16-bit WAV ({new FileInfo(path).Length / 1024} KiB)");
                torch.manual_seed(0);
                using var encoder = new ClapAudioEncoder(new Cnn14Config());
                using var projector = new AudioProjector(new AudioProjectorConfig());
                encoder.to(dev);
                projector.to(dev);
                using var fe = new ClapFrontEnd();
                using var mode = torch.inference_mode();

                AudioClip clip = AudioReader.Read(path);
                var decode = Timing.Measure(() => clip = AudioReader.Read(path), 1, n);
                Tensor wave = fe.PrepareWaveform(clip);
                var prepare = Timing.Measure(() => { wave.Dispose(); wave = fe.PrepareWaveform(clip); }, 1, n);
                using var batch = wave.unsqueeze(0).to(dev);
                Tensor logmel = fe.LogMel(batch);
                var mel = Timing.Measure(() => { logmel.Dispose(); logmel = fe.LogMel(batch); }, 1, n);
                var cnn = Timing.Measure(() => { using var s = torch.NewDisposeScope(); encoder.forward(logmel); }, 1, n);
                using var emb = encoder.forward(logmel);
                var proj = Timing.Measure(() => { using var s = torch.NewDisposeScope(); projector.forward(emb.unsqueeze(1)); }, 1, n);
                var windowed = Timing.Measure(() => { using var src = AudioSources.Open(path); fe.PrepareWaveform(src).Dispose(); }, 1, n);
                wave.Dispose();
                logmel.Dispose();
                Line("decode (WAV, whole file)", decode);
                Line($"channel mean + resample {sr}→44100 + fit 10 s", prepare);
                Line($"log-mel (STFT 1024/320, 64 mels, {(fe.Config.ComputeFloat64 ? "float64" : "float32")})", mel);
                Line("CNN14 + projection + L2 (real size, 1379×64 frames)", cnn);
                Line("audio projector (real size, 77×768 tokens)", proj);
                Line("windowed read + resample + fit (generation path)", windowed);
                double total = decode.Median + prepare.Median + mel.Median + cnn.Median + proj.Median;
                Console.WriteLine($"total per sound (medians): {total:0} ms");
            }
            finally
            {
                File.Delete(path);
            }
            return 0;
        });
        return cmd;
    }

    private static void Line(string label, Timing t) => Console.WriteLine($"{label}: median {t.Median:0.0} ms, best {t.Best:0.0} ms");

    private static Command Adapters()
    {
        var latent = Latent();
        var repeat = Repeat();
        var batch = new Option<int>("--batch") { Description = "UNet batch (2 = the official guided batch)", DefaultValueFactory = _ => 2 };
        var dtypeOpt = new Option<string>("--dtype") { Description = "Compute dtype", DefaultValueFactory = _ => "float32" };
        var device = CommonOptions.Device();
        var cmd = new Command("adapters", "Per-step cost of the 10 gated audio cross-attention sites vs the plain SD v1 UNet (random weights, real size)")
        {
            latent, repeat, batch, dtypeOpt, device,
        };
        cmd.SetAction(pr =>
        {
            var dev = TorchRuntime.ParseDevice(pr.GetValue(device));
            var dtype = CommonOptions.ParseDtype(pr.GetValue(dtypeOpt)!);
            TorchRuntime.CheckComputeDtype(dtype, dev);
            int side = CheckedLatent(pr.GetValue(latent)), b = pr.GetValue(batch), n = pr.GetValue(repeat);
            Console.WriteLine(TorchRuntime.Describe());
            var cfg = new UNet2DConditionConfig();
            var sites = AudioAdapterConfig.Official.ResolveSites(cfg);
            double unetMacs = UNetCost.StableDiffusionV1(side, side).TotalMacs;
            double adapterMacs = 0;
            foreach (var site in sites)
            {
                int div = site.Path.StartsWith("mid_block", StringComparison.Ordinal) ? 8 : site.Path.StartsWith("up_blocks.1", StringComparison.Ordinal) ? 4 : site.Path.StartsWith("up_blocks.2", StringComparison.Ordinal) ? 2 : 1;
                double tokens = (double)(side / div) * (side / div), c = site.Channels;
                adapterMacs += 2 * tokens * c * c + 2 * 77 * cfg.CrossAttentionDim * c + 2 * tokens * 77 * c;
            }
            Console.WriteLine($"{sites.Count} adapter sites; analytic cost {adapterMacs / 1e9:0.00} GMACs per image-pass = {100 * adapterMacs / unetMacs:0.00}% of the UNet's {unetMacs / 1e9:0.00} GMACs");
            torch.manual_seed(0);
            using var unet = new UNet2DConditionModel(cfg);
            unet.eval();
            var set = AudioAdapterSet.Install(unet, AudioAdapterConfig.Official);
            unet.to(dtype).to(dev);
            CpuKernels.KeepNarrowConvolutionsInFloat32(unet, dtype, dev);
            using var mode = torch.inference_mode();
            using var x = torch.randn(new long[] { b, 4, side, side }, dtype: dtype, device: dev);
            using var text = torch.randn(new long[] { b, 77, 768 }, dtype: dtype, device: dev);
            using var audio = torch.randn(new long[] { b, 77, 768 }, dtype: dtype, device: dev);
            using var t = torch.full(new long[] { b }, 500, dtype: ScalarType.Int64, device: dev);
            var plainCtx = new UNetCallContext();
            var audioCtx = new UNetCallContext { AudioContext = audio };
            void Run(UNetCallContext c) { using var s = torch.NewDisposeScope(); unet.Forward(x, t, text, c); }
            Run(plainCtx);
            Run(audioCtx);
            var plain = new List<double>();
            var withAudio = new List<double>();
            for (int i = 0; i < n; i++)   // interleaved, so load changes hit both alike
            {
                plain.AddRange(Timing.Measure(() => Run(plainCtx), 0, 1).Milliseconds);
                withAudio.AddRange(Timing.Measure(() => Run(audioCtx), 0, 1).Milliseconds);
            }
            var tp = new Timing(plain);
            var ta = new Timing(withAudio);
            Console.WriteLine($"plain UNet ({b}×4×{side}×{side}, {dtype}): median {tp.Median:0} ms, best {tp.Best:0} ms");
            Console.WriteLine($"with {sites.Count} adapters + audio tokens: median {ta.Median:0} ms, best {ta.Best:0} ms");
            Console.WriteLine($"adapter overhead per step: {100 * (ta.Median / tp.Median - 1):0.0}% (medians), {100 * (ta.Best / tp.Best - 1):0.0}% (best)");

            // The adapter steps alone (short runs, so less exposed to other load than the whole-UNet difference).
            var blocks = unet.TransformerBlocks().ToDictionary(kv => kv.Name, kv => kv.Block);
            double alone = 0;
            foreach (var adapter in set.Adapters)
            {
                var site = sites.Single(s => s.Path == adapter.Site);
                int div = site.Path.StartsWith("mid_block", StringComparison.Ordinal) ? 8 : site.Path.StartsWith("up_blocks.1", StringComparison.Ordinal) ? 4 : site.Path.StartsWith("up_blocks.2", StringComparison.Ordinal) ? 2 : 1;
                using var h = torch.randn(new long[] { b, (long)(side / div) * (side / div), site.Channels }, dtype: dtype, device: dev);
                var timing = Timing.Measure(() => { using var s = torch.NewDisposeScope(); adapter.Forward(blocks[site.Path], h, text, audioCtx); }, 2, Math.Max(5, n));
                alone += timing.Best;
            }
            Console.WriteLine($"the {sites.Count} adapter steps alone: {alone:0} ms (sum of bests) = {100 * alone / tp.Best:0.0}% of the best plain UNet pass");
            return 0;
        });
        return cmd;
    }

    private static Command Edit()
    {
        var latent = Latent();
        var repeat = Repeat();
        var steps = new Option<int>("--steps") { Description = "DDIM steps the per-step times are scaled to", DefaultValueFactory = _ => 50 };
        var dtypeOpt = new Option<string>("--dtype") { Description = "Compute dtype", DefaultValueFactory = _ => "float32" };
        var device = CommonOptions.Device();
        var cmd = new Command("edit", "Per-step cost of DDIM inversion (plain UNet, batch 1) and of PnP edit steps (3 branches with injection hooks, or 2 without the source branch; adapters), SD v1 size, random weights")
        {
            latent, repeat, steps, dtypeOpt, device,
        };
        cmd.SetAction(pr =>
        {
            var dev = TorchRuntime.ParseDevice(pr.GetValue(device));
            var dtype = CommonOptions.ParseDtype(pr.GetValue(dtypeOpt)!);
            TorchRuntime.CheckComputeDtype(dtype, dev);
            int side = CheckedLatent(pr.GetValue(latent)), n = pr.GetValue(repeat), total = pr.GetValue(steps);
            Console.WriteLine(TorchRuntime.Describe());
            torch.manual_seed(0);
            using var unet = new UNet2DConditionModel(new UNet2DConditionConfig());
            unet.eval();
            AudioAdapterSet.Install(unet, AudioAdapterConfig.Official);
            unet.to(dtype).to(dev);
            CpuKernels.KeepNarrowConvolutionsInFloat32(unet, dtype, dev);
            using var mode = torch.inference_mode();
            using var x1 = torch.randn(new long[] { 1, 4, side, side }, dtype: dtype, device: dev);
            using var x3 = torch.randn(new long[] { 3, 4, side, side }, dtype: dtype, device: dev);
            using var text1 = torch.randn(new long[] { 1, 77, 768 }, dtype: dtype, device: dev);
            using var text3 = torch.randn(new long[] { 3, 77, 768 }, dtype: dtype, device: dev);
            using var audio3 = torch.randn(new long[] { 3, 77, 768 }, dtype: dtype, device: dev);
            using var t1 = torch.full(new long[] { 1 }, 500, dtype: ScalarType.Int64, device: dev);
            using var t3 = torch.full(new long[] { 3 }, 500, dtype: ScalarType.Int64, device: dev);
            using var x2 = x3.narrow(0, 1, 2);
            using var text2 = text3.narrow(0, 1, 2);
            using var audio2 = audio3.narrow(0, 1, 2);
            using var t2 = torch.full(new long[] { 2 }, 500, dtype: ScalarType.Int64, device: dev);
            var invert = Timing.Measure(() => { using var s = torch.NewDisposeScope(); unet.Forward(x1, t1, text1, new UNetCallContext()); }, 1, n);
            Timing edit, pair;
            using (new Pipelines.PnpInjection(unet, [500], [500]))
            {
                edit = Timing.Measure(() =>
                {
                    using var s = torch.NewDisposeScope();
                    var ctx = new UNetCallContext { AudioContext = audio3 };
                    ctx.Items[Pipelines.PnpInjection.TimestepKey] = 500;
                    unet.Forward(x3, t3, text3, ctx);
                }, 1, n);
                pair = Timing.Measure(() =>
                {
                    using var s = torch.NewDisposeScope();
                    var ctx = new UNetCallContext { AudioContext = audio2 };
                    ctx.Items[Pipelines.PnpInjection.TimestepKey] = 499;   // outside the schedule: no injection, no source branch
                    unet.Forward(x2, t2, text2, ctx);
                }, 1, n);
            }
            int injected = (int)(total * 0.8);
            Console.WriteLine($"inversion step (UNet batch 1, {side}x{side} latent, {dtype}): median {invert.Median:0} ms → {total} steps ≈ {invert.Median * total / 1000:0.0} s");
            Console.WriteLine($"edit step (UNet batch 3, PnP hooks active, 10 adapters): median {edit.Median:0} ms → {total} steps ≈ {edit.Median * total / 1000:0.0} s");
            Console.WriteLine($"edit step without the source branch (UNet batch 2: after the injection window, or with its features replayed): median {pair.Median:0} ms");
            Console.WriteLine($"one edit at the official 0.8 / 0.8: {injected} × batch 3 + {total - injected} × batch 2 ≈ {(injected * edit.Median + (total - injected) * pair.Median) / 1000:0.0} s; " +
                              $"each further sound on the same image (source features replayed) ≈ {total * pair.Median / 1000:0.0} s");
            return 0;
        });
        return cmd;
    }

    private static string[] Split(string s) => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static void Report(string label, Timing timing, double gflop)
    {
        double best = timing.Best;
        double achieved = gflop / (best / 1000);
        if (!CpuPeak.IsSupported)
        {
            Console.WriteLine($"{label}: best {best:0} ms, median {timing.Median:0} ms per pass; {achieved:0} GFLOP/s (peak not measurable on this CPU)");
            return;
        }
        double peak = MeasuredPeak.Value;
        Console.WriteLine($"{label}: best {best:0} ms, median {timing.Median:0} ms per pass; {achieved:0} GFLOP/s = {100 * achieved / peak:0}% of the measured {peak:0} GFLOP/s fp32 peak");
    }
}
