using System.CommandLine;
using System.Globalization;
using SonicDiffusion.Core;
using SonicDiffusion.Diagnostics;
using SonicDiffusion.Models;
using SonicDiffusion.Schedulers;
using SonicDiffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Cli.Commands;

/// <summary>
/// <c>sonic bench stage2</c>: the cost of one stage-2 training step (projector forward, UNet forward with the adapters,
/// ε-MSE, backward through the frozen UNet into adapters + projector, AdamW update) on random weights and random cached
/// inputs, at a tiny config and at SD v1 size.
/// </summary>
public static class BenchStage2Command
{
    /// <summary>The tiny configuration of the tests (UNet [32, 64], 32-wide context, 8×8 latents; projector 43 → 77 × 32).</summary>
    public static readonly UNet2DConditionConfig TinyUnet = new()
    {
        SampleSize = 8, BlockOutChannels = [32, 64], LayersPerBlock = 1, DownBlockTypes = ["CrossAttnDownBlock2D", "DownBlock2D"],
        UpBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D"], AttentionHeadDim = [4], CrossAttentionDim = 32, NormNumGroups = 8,
    };

    public static readonly AudioProjectorConfig TinyProjector = new() { AudioDim = 43, ContextDim = 32, DimHead = 4, H = 8, TransformerLayerCount = 2 };

    public static Command Create()
    {
        var size = new Option<string>("--size") { Description = "tiny, sd or both", DefaultValueFactory = _ => "both" };
        var latent = new Option<int>("--latent") { Description = "Latent side at SD size (32 = 256² images)", DefaultValueFactory = _ => 32 };
        var batch = new Option<int>("--batch") { Description = "Batch size", DefaultValueFactory = _ => 1 };
        var repeat = new Option<int>("--repeat") { Description = "Timed steps (after one warm-up step)", DefaultValueFactory = _ => 3 };
        var cmd = new Command("stage2", "Stage-2 training step time, samples/s and forward+backward GFLOP/s (random weights; tiny config and SD v1 size)")
        {
            size, latent, batch, repeat,
        };
        cmd.SetAction(pr =>
        {
            Console.WriteLine(TorchRuntime.Describe());
            string which = pr.GetValue(size)!.ToLowerInvariant();
            if (which is not ("tiny" or "sd" or "both")) throw new SonicException($"--size {which}: use tiny, sd or both");
            int b = pr.GetValue(batch), n = pr.GetValue(repeat);
            if (which is "tiny" or "both") Run("tiny", TinyUnet, TinyProjector, 8, b, Math.Max(n, 10));
            if (which is "sd" or "both") Run("SD v1", new UNet2DConditionConfig(), new AudioProjectorConfig(), pr.GetValue(latent), b, n);
            return 0;
        });
        return cmd;
    }

    /// <summary>Multiply-accumulates of one projector forward (conv stack + the blocks actually computed + to_out).</summary>
    public static double ProjectorMacs(AudioProjectorConfig c)
    {
        double k = c.AudioTokenCount, d = c.AudioDim, w = c.ContextDim, inner = c.InnerDim;
        double conv = 17 * (c.InitialChannelDim * k * d + 2 * k * k * d + k * k * d + k * k * w);   // conv0, conv2, conv5, convT (per input sample), conv12
        int blocks = c.Chained ? c.TransformerLayerCount : 1;
        double block = 3 * k * w * inner + 2 * k * k * inner + k * inner * inner + k * inner * w;
        return conv + blocks * block + k * w * w;
    }

    private static void Run(string name, UNet2DConditionConfig cfg, AudioProjectorConfig projCfg, int side, int b, int repeat)
    {
        torch.manual_seed(0);
        using var unet = new UNet2DConditionModel(cfg with { SampleSize = side });
        using var projector = new AudioProjector(projCfg);
        ModuleFreezer.Freeze(unet);
        unet.eval();
        var set = AudioAdapterSet.Install(unet, AudioAdapterConfig.Official with { GateInit = 0.1 });
        foreach (var p in set.Parameters().Values) p.requires_grad = true;
        Stage1TrainingTask.UnfreezeEffective(projector);
        projector.train();
        var groups = new List<ParameterGroup>
        {
            new("adapters", set.Parameters().Select(kv => (kv.Key, (TorchSharp.Modules.Parameter)kv.Value)).ToList()),
            ParameterGroup.FromModule("projector", projector, "audio_projector.", 1e-5),
        };
        using var optimizer = new AdamWOptimizer(groups.Select(g => (g, 1e-4, 0.0)));
        var schedule = new NoiseSchedule(SchedulerConfig.StableDiffusionV1);
        var gen = new Generator(1);
        using var x0 = torch.randn(b, cfg.InChannels, side, side);
        using var emb = torch.nn.functional.normalize(torch.randn(b, 1, projCfg.AudioDim), dim: -1);
        using var text = torch.randn(b, 77, cfg.CrossAttentionDim);
        void Step()
        {
            using var scope = torch.NewDisposeScope();
            using var grad = torch.enable_grad();
            var audio = projector.forward(emb);
            var noise = torch.randn(x0.shape, generator: gen);
            var t = torch.randint(0, 1000, [b], generator: gen);
            var eps = unet.Forward(schedule.AddNoise(x0, noise, t), t, text, new UNetCallContext { AudioContext = audio });
            (eps - noise).square().mean().backward();
            optimizer.Step(1.0);
            optimizer.ZeroGrad();
        }
        Timing timing;
        using (CpuKernels.OneDnnOff()) timing = Timing.Measure(Step, 1, repeat); // the kernels training runs on
        // Forward: UNet (analytic) + adapters + projector. Backward through frozen layers needs only input gradients
        // (≈ 1× their forward); the trainable adapters/projector need input and weight gradients (≈ 2×).
        var unetCost = UNetCost.ForConfig(cfg, side, side);
        double adapterMacs = 0;
        foreach (var site in set.Sites)
        {
            int level = site.Path.StartsWith("mid_block", StringComparison.Ordinal) ? cfg.BlockOutChannels.Length - 1
                : site.Path.StartsWith("up_blocks.", StringComparison.Ordinal) ? cfg.BlockOutChannels.Length - 1 - int.Parse(site.Path.Split('.')[1], CultureInfo.InvariantCulture)
                : int.Parse(site.Path.Split('.')[1], CultureInfo.InvariantCulture);
            double tokens = (double)(side >> level) * (side >> level), c = site.Channels, m = projCfg.AudioTokenCount;
            adapterMacs += 2 * tokens * c * c + 2 * m * projCfg.ContextDim * c + 2 * tokens * m * c;
        }
        double projMacs = ProjectorMacs(projCfg);
        double flops = b * 2 * (2 * unetCost.TotalMacs + 3 * adapterMacs + 3 * projMacs);
        int trainable = groups.Sum(g => g.Parameters.Sum(p => (int)p.Parameter.numel()));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: batch {b}, latents {cfg.InChannels}×{side}×{side}, {set.Sites.Count} adapter sites, {trainable / 1e6:0.###} M trainable parameters; " +
            $"step median {timing.Median:0.#} ms, best {timing.Best:0.#} ms → {b * 1000 / timing.Median:0.###} samples/s; " +
            $"forward {b * (unetCost.TotalMacs + adapterMacs + projMacs) * 2 / 1e9:0.###} GFLOP, forward+backward ≈ {flops / 1e9:0.###} GFLOP → {flops / 1e6 / timing.Median:0.##} GFLOP/s (median)"));
    }
}
