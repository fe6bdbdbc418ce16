using System.CommandLine;
using SonicDiffusion.Core;
using SonicDiffusion.Diagnostics;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Cli.Commands;

public static partial class BenchCommand
{
    /// <summary>
    /// <c>sonic bench kernels</c>: every convolution of SD v1's UNet and VAE, of CLAP's CNN14 and of the bundled mini
    /// models, at their real shapes, against float64, as the product runs them: each shape's verdict is made (or read
    /// from the cache; <c>--recheck</c> forgets it first) and shapes oneDNN got wrong run through ATen. Prints the
    /// verdicts; exit code 1 when any layer is still off.
    /// </summary>
    private static Command Kernels()
    {
        var dtypes = Dtypes();
        var latent = new Option<int>("--latent") { Description = "SD v1 latent side (64 = 512² images; the VAE's image is 8× it)", DefaultValueFactory = _ => 64 };
        var models = new Option<string>("--models") { Description = "Comma-separated: sd-unet, sd-vae, clap, mini, small (the small feature maps oneDNN failed on)", DefaultValueFactory = _ => "sd-unet,sd-vae,clap,mini,small" };
        var model = new Option<string?>("--model") { Description = $"Bundle whose configs the mini check uses (default {GenerateCommand.DefaultModel})" };
        var all = new Option<bool>("--all") { Description = "Print every layer, not only the worst of each model and the failures" };
        var recheck = new Option<bool>("--recheck") { Description = "Forget this machine's cached convolution verdicts and check every shape again" };
        var cmd = new Command("kernels", "Check the convolution kernels in force against float64 at the real layer shapes (random weights) and show the per-shape verdicts") { dtypes, latent, models, model, all, recheck };
        cmd.SetAction(pr =>
        {
            int side = CheckedLatent(pr.GetValue(latent));
            var chosen = Split(pr.GetValue(models)!).ToHashSet();
            var unknown = chosen.Except(["sd-unet", "sd-vae", "clap", "mini", "small"]).ToList();
            if (unknown.Count > 0) throw new SonicException($"--models {string.Join(",", unknown)}: unknown; use sd-unet, sd-vae, clap, mini, small");
            Console.WriteLine(TorchRuntime.Describe());
            Console.WriteLine($"CPU: {CpuInfo.Current}; kernels: {CpuKernels.Describe()}");
            if (pr.GetValue(recheck)) ConvolutionVerdicts.Clear();
            int verdictsBefore = ConvolutionVerdicts.All.Count;
            var newVerdicts = new List<ConvolutionVerdict>();
            ConvolutionVerdicts.Checked += newVerdicts.Add;
            var checks = new List<(string Name, Func<ScalarType, IProgress<ProgressInfo>, List<ConvolutionCheckResult>> Run)>();
            if (chosen.Contains("sd-unet")) checks.Add(($"SD v1 UNet, {side}² latent", (dt, p) => CheckUNet("sd-unet", new UNet2DConditionConfig(), side, dt, p)));
            if (chosen.Contains("sd-vae")) checks.Add(($"SD v1 VAE, {8 * side}² image", (dt, p) => CheckVae("sd-vae", new AutoencoderKLConfig(), side, dt, p)));
            if (chosen.Contains("clap")) checks.Add(("CLAP CNN14, 10-s log-mel", (dt, p) => CheckClap("clap", new Cnn14Config(), dt, p)));
            if (chosen.Contains("mini"))
            {
                string dir = GenerateCommand.ResolveModel(pr.GetValue(model));
                var unet = ConfigJson.Read<UNet2DConditionConfig>(Path.Combine(dir, "unet", "config.json"));
                var vae = ConfigJson.Read<AutoencoderKLConfig>(Path.Combine(dir, "vae", "config.json"));
                var clapPath = Path.Combine(dir, SonicDiffusionModel.AudioEncoderFolder, SonicDiffusionModel.ConfigFile);
                var clap = Cnn14Config.FromJson(File.ReadAllText(clapPath), clapPath);
                int miniSide = unet.SampleSize ?? 16;
                checks.Add(($"{dir}: UNet, VAE, audio encoder", (dt, p) =>
                [
                    .. CheckUNet("mini-unet", unet, miniSide, dt, p),
                    .. CheckVae("mini-vae", vae, miniSide, dt, p),
                    .. CheckClap("mini-audio", clap, dt, p),
                ]));
            }
            if (chosen.Contains("small")) checks.Add(("small feature maps (34×16 … 4×2, 16–64 channels)", CheckSmallMaps));
            int failed = 0;
            foreach (var (dtypeName, dtype) in RunnableDtypes(pr.GetValue(dtypes)!, torch.CPU))
            {
                double tolerance = ConvolutionVerdicts.Tolerance(dtype);
                foreach (var (name, run) in checks)
                {
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    var results = ConsoleProgress.Run(p => run(dtype, p));
                    if (results.Count == 0) continue;
                    var bad = results.Where(r => !r.Finite || r.RelativeError > tolerance).ToList();
                    failed += bad.Count;
                    var worst = results.MaxBy(r => r.RelativeError)!;
                    Console.WriteLine($"{dtypeName} {name}: {results.Count} convolution shapes, {bad.Count} off (tolerance {tolerance:g2} of the largest output), " +
                                      $"worst {Error(worst)} ({worst.Model} {worst.Layer}); {results.Sum(r => r.Milliseconds) / 1000:0.00} s in checked kernels, {sw.Elapsed.TotalSeconds:0} s in all");
                    foreach (var r in pr.GetValue(all) ? results : bad)
                        Console.WriteLine($"  {(bad.Contains(r) ? "OFF" : "ok ")} {r.Model} {r.Layer}: {r.Shape}: {Error(r)}, {r.Milliseconds:0.0} ms");
                }
            }
            ConvolutionVerdicts.Checked -= newVerdicts.Add;
            Console.WriteLine($"verdicts: {ConvolutionVerdicts.Describe()}; {newVerdicts.Count} made now ({newVerdicts.Sum(v => v.CheckMilliseconds) / 1000:0.00} s of checks), {verdictsBefore} were cached");
            foreach (var v in pr.GetValue(all) ? ConvolutionVerdicts.All : ConvolutionVerdicts.All.Where(v => !v.OneDnnRight))
                Console.WriteLine($"  {(v.OneDnnRight ? "oneDNN" : "ATen  ")} {v.Shape}: oneDNN {(double.IsFinite(v.RelativeError) ? $"{v.RelativeError:0.0e0} relative" : "not finite")}");
            Console.WriteLine(failed == 0 ? "all convolutions within tolerance" : $"{failed} convolution shape{(failed == 1 ? "" : "s")} off: these kernels are not safe on this CPU");
            return failed == 0 ? 0 : 1;
        });
        return cmd;
    }

    /// <summary>The model in eval mode and <paramref name="dtype"/> as the product runs it; the input seed set.</summary>
    private static T Prepare<T>(T model, ScalarType dtype) where T : nn.Module
    {
        model.eval();
        model.to(dtype);
        CpuKernels.KeepNarrowConvolutionsInFloat32(model, dtype, torch.CPU);
        torch.manual_seed(1);
        return model;
    }

    private static string Error(ConvolutionCheckResult r) => r.Finite ? $"{r.RelativeError:0.0e0} relative" : "not finite";

    private static List<ConvolutionCheckResult> CheckUNet(string name, UNet2DConditionConfig config, int side, ScalarType dtype, IProgress<ProgressInfo> progress)
    {
        torch.manual_seed(0);
        using var unet = Prepare(new UNet2DConditionModel(config), dtype);
        using var x = torch.randn(new long[] { 1, config.InChannels, side, side }, dtype: dtype);
        using var ctx = torch.randn(new long[] { 1, 77, config.CrossAttentionDim }, dtype: dtype);
        using var t = torch.full(new long[] { 1 }, 500, dtype: ScalarType.Int64);
        return ConvolutionCheck.Run(name, unet, () => unet.forward(x, t, ctx), progress);
    }

    private static List<ConvolutionCheckResult> CheckVae(string name, AutoencoderKLConfig config, int side, ScalarType dtype, IProgress<ProgressInfo> progress)
    {
        torch.manual_seed(0);
        using var vae = Prepare(new AutoencoderKL(config), dtype);
        using var z = torch.randn(new long[] { 1, config.LatentChannels, side, side }, dtype: dtype);
        return ConvolutionCheck.Run(name, vae, () => vae.EncodeToLatents(vae.DecodeLatents(z).clamp(-1, 1)), progress);
    }

    /// <summary>The audio encoder always runs in float32 (as in the product); other dtypes check nothing.</summary>
    private static List<ConvolutionCheckResult> CheckClap(string name, Cnn14Config config, ScalarType dtype, IProgress<ProgressInfo> progress)
    {
        if (dtype != ScalarType.Float32) return [];
        torch.manual_seed(0);
        using var encoder = new ClapAudioEncoder(config);
        encoder.eval();
        torch.manual_seed(1);
        using var logmel = torch.randn(new long[] { 1, 1, 1379, config.MelBins });
        return ConvolutionCheck.Run(name, encoder, () => encoder.forward(logmel), progress);
    }

    /// <summary>A CNN14-like stack on small maps, routed by verdict like the models: where oneDNN's AVX-512 forward failed on an AMD EPYC (Zen 5).</summary>
    private static List<ConvolutionCheckResult> CheckSmallMaps(ScalarType dtype, IProgress<ProgressInfo> progress)
    {
        torch.manual_seed(0);
        using var net = Prepare(new SmallMapStack(), dtype);
        using var x = torch.randn(new long[] { 3, 16, 34, 16 }, dtype: dtype);
        return ConvolutionCheck.Run("small", net, () => net.forward(x), progress);
    }

    private sealed class SmallMapStack : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Conv2d conv0 = nn.Conv2d(16, 24, 3, padding: 1), conv1 = nn.Conv2d(24, 32, 3, padding: 1),
            conv2 = nn.Conv2d(32, 48, 3, padding: 1), conv3 = nn.Conv2d(48, 64, 3, padding: 1);

        public SmallMapStack() : base(nameof(SmallMapStack))
        {
            RegisterComponents();
            CpuKernels.GuardConvolutions(this);
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = torch.NewDisposeScope();
            var h = conv0.call(x);
            foreach (var conv in new[] { conv1, conv2, conv3 })
                h = conv.call(nn.functional.avg_pool2d(h, 2));
            return h.MoveToOuterDisposeScope();
        }
    }
}
