using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Data.World;
using SonicDiffusion.Diagnostics;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Schedulers;
using SonicDiffusion.Text;
using SonicDiffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Cli.Commands;

public static partial class BenchCommand
{
    /// <summary>
    /// <c>sonic bench generate</c>: model load time, then the time of one whole generation (audio encode + sampler +
    /// VAE decode, embedding cache cleared before each run) after a warm-up, with the audio encode also timed alone.
    /// </summary>
    private static Command Generate()
    {
        var model = new Option<string?>("--model") { Description = $"SonicDiffusion model bundle (default {GenerateCommand.DefaultModel})" };
        var steps = CommonOptions.Steps(25);
        var size = new Option<int>("--size") { Description = "Image side", DefaultValueFactory = _ => 128 };
        var repeat = new Option<int>("--repeat") { Description = "Timed generations (after one warm-up)", DefaultValueFactory = _ => 5 };
        var guidance = CommonOptions.Guidance(7.5);
        var scheduler = CommonOptions.Scheduler("pndm");
        var audio = new Option<string?>("--audio") { Description = "Sound to generate from (default: a synthesised 5-s world sound)" };
        var random = new Option<bool>("--random") { Description = "Instead of --model: a random-weight bundle of the mini sizes (docs/mini-training.md; same compute as the trained one)" };
        var threads = CommonOptions.TorchThreads();
        var device = CommonOptions.Device();
        var branchThreads = new Option<int?>("--branch-threads") { Description = "Guidance branches evaluated side by side, one thread each (1 = one batched UNet call; default: automatic, side by side for latents up to 32×32 when --threads ≥ 2)" };
        var profile = new Option<bool>("--profile") { Description = "Also time the UNet's sections (resnets, attentions, feed-forwards) over one more generation" };
        var cmd = new Command("generate", "Speed of the audio-to-image pipeline of a bundle: load time, then per-image generation time (warm-up + N timed runs, median)")
        {
            model, steps, size, repeat, guidance, scheduler, audio, random, threads, device, branchThreads, profile,
        };
        cmd.SetAction(pr =>
        {
            int n = pr.GetValue(repeat), side = pr.GetValue(size);
            if (n < 1) throw new SonicException($"--repeat {n}: must be at least 1");
            if (side < 8 || side % 8 != 0) throw new SonicException($"--size {side}: must be a positive multiple of 8");
            CommonOptions.ApplyTorchThreads(pr.GetValue(threads));
            if (pr.GetValue(random) && pr.GetValue(model) is not null) throw new SonicException("--random and --model: give one or the other");
            string? randomDir = pr.GetValue(random) ? Path.Combine(Path.GetTempPath(), $"sonic-bench-mini-{Guid.NewGuid():N}") : null;
            string modelPath = randomDir is null ? GenerateCommand.ResolveModel(pr.GetValue(model)) : WriteRandomMiniBundle(randomDir);
            Console.WriteLine(TorchRuntime.Describe());
            if (File.Exists("/proc/loadavg")) Console.WriteLine($"load average at start: {File.ReadAllText("/proc/loadavg").Trim()} ({Environment.ProcessorCount} cores)");
            string? temp = null;
            string sound = pr.GetValue(audio) ?? (temp = Path.Combine(Path.GetTempPath(), $"sonic-bench-{Guid.NewGuid():N}.wav"));
            try
            {
                if (temp is not null)
                {
                    var scene = WorldGenerator.Plan(1, 3) with { DurationSeconds = 5 };
                    WavWriter.WritePcm16(temp, WorldGenerator.Sound(scene), SoundSynth.SampleRate);
                    Console.WriteLine($"sound: synthesised {scene.Info.Name}, 5 s");
                }
                else if (!File.Exists(sound)) throw new SonicException($"--audio {sound}: file not found");

                var sw = Stopwatch.StartNew();
                using var loaded = SonicDiffusionModel.Load(modelPath, null, new ModelLoadOptions { Device = TorchRuntime.ParseDevice(pr.GetValue(device)) });
                double load = sw.Elapsed.TotalSeconds;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"model load: {load:0.00} s ({loaded.Source})"));

                var pipeline = new AudioToImagePipeline(loaded) { BranchThreads = pr.GetValue(branchThreads) };
                if (pipeline.BranchThreads is < 1) throw new SonicException($"--branch-threads {pipeline.BranchThreads}: must be at least 1");
                var req = new AudioToImageRequest
                {
                    Audio = sound, Steps = pr.GetValue(steps), Guidance = pr.GetValue(guidance), Beta = loaded.Adapters.Config.Beta,
                    BetaSites = loaded.Adapters.Config.BetaSites, Scheduler = pr.GetValue(scheduler)!, Width = side, Height = side, Seed = 0,
                };
                req.Validate();
                void Once()
                {
                    pipeline.ClearCache();
                    using var image = pipeline.Generate(req);
                }
                var whole = Timing.Measure(Once, 1, n, (i, ms) => Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  run {i + 1}: {ms / 1000:0.000} s")));
                var encode = Timing.Measure(() => { pipeline.ClearCache(); pipeline.AudioEmbedding(sound).Dispose(); }, 1, n);
                // The sampler's UNet calls (denoiser wrapped with a stopwatch) and the VAE decode, each timed alone.
                var unetClock = new Stopwatch();
                int calls = 0;
                DenoiseFn Timed(DenoiseFn inner) => (x, t) =>
                {
                    unetClock.Start();
                    try { return inner(x, t); }
                    finally { unetClock.Stop(); calls++; }
                };
                var unetMs = new List<double>();
                Tensor? lastLatent = null;
                var sampler = Timing.Measure(() =>
                {
                    unetClock.Reset();
                    lastLatent?.Dispose();
                    lastLatent = pipeline.GenerateLatents(req, wrapDenoiser: Timed);
                    unetMs.Add(unetClock.Elapsed.TotalMilliseconds);
                }, 1, n);
                int callsPerImage = calls / (n + 1);
                if (pr.GetValue(profile)) PrintProfile(pipeline, req, Timed, unetClock);
                var decode = Timing.Measure(() => { using var mode = torch.inference_mode(); loaded.Sd.DecodeToImage(lastLatent!).Dispose(); }, 1, n);
                lastLatent?.Dispose();
                pipeline.ClearCache();
                double unetMedian = unetMs.Skip(1).Order().ElementAt((unetMs.Count - 1) / 2);
                int branches = req.Guidance > 1 ? 2 : 1;
                int sideBySide = BranchWorkers.Choose(pipeline.BranchThreads, branches, loaded.Sd.LatentTokens(side, side), loaded.Device.type == DeviceType.CPU);
                string mode = branches == 1 ? "unguided (UNet batch 1)"
                    : sideBySide > 1 ? "guided: 2 branches side by side, UNet batch 1 on each of 2 threads" : "guided (UNet batch 2)";
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"per image ({side}×{side}, {req.Steps} {req.Scheduler} steps, {mode}): median {whole.Median / 1000:0.000} s, best {whole.Best / 1000:0.000} s over {n} runs after 1 warm-up"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  of which audio encode (read + log-mel + CLAP): median {encode.Median / 1000:0.000} s; sampler + decode ≈ {(whole.Median - encode.Median) / 1000:0.000} s"));
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  timed alone: conditioning + sampler median {sampler.Median / 1000:0.000} s, of which {callsPerImage} UNet calls {unetMedian / 1000:0.000} s ({unetMedian / Math.Max(1, callsPerImage):0.0} ms each); VAE decode median {decode.Median / 1000:0.000} s"));
                var ucfg = loaded.Sd.Unet.Config;
                int latentSide = side / loaded.Sd.VaeScaleFactor, unetBatch = req.Guidance > 1 ? 2 : 1;
                double gflop = UNetCost.ForConfig(ucfg, latentSide, latentSide).TotalFlops * unetBatch / 1e9;
                double perCall = unetMedian / Math.Max(1, callsPerImage) / 1000;
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  UNet (analytic, adapters excluded): {gflop:0.000} GFLOP per call (batch {unetBatch}) → {gflop / perCall:0.0} GFLOP/s"));
                if (File.Exists("/proc/loadavg")) Console.WriteLine($"load average at end: {File.ReadAllText("/proc/loadavg").Trim()}");
            }
            finally
            {
                if (temp is not null) File.Delete(temp);
                if (randomDir is not null) Directory.Delete(randomDir, true);
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>One more generation (embedding cache cleared) with <see cref="SectionProfiler"/> on: milliseconds per pipeline stage and per UNet section.</summary>
    private static void PrintProfile(AudioToImagePipeline pipeline, AudioToImageRequest req, Func<DenoiseFn, DenoiseFn> timed, Stopwatch unetClock)
    {
        unetClock.Reset();
        pipeline.ClearCache();
        var total = Stopwatch.StartNew();
        SectionProfiler.Start();
        IReadOnlyDictionary<string, (double Milliseconds, int Count)> sections;
        try
        {
            using var mode = torch.inference_mode();
            using var latent = pipeline.GenerateLatents(req, wrapDenoiser: timed);
            pipeline.Model.Sd.DecodeToImage(latent).Dispose();
        }
        finally { sections = SectionProfiler.Stop(); }
        double whole = total.Elapsed.TotalMilliseconds, unet = unetClock.Elapsed.TotalMilliseconds;
        string Line(string name, double ms, double of, int? count = null) => string.Create(CultureInfo.InvariantCulture,
            $"  {name,-24} {ms,8:0.0} ms  {100 * ms / of,5:0.0} %{(count is { } c ? $"  {c,5} calls  {1000 * ms / c,8:0} µs each" : "")}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"profile of one generation (embedding cache cleared): {whole:0} ms"));
        foreach (var name in ProfileSections.Pipeline)
            if (sections.TryGetValue(name, out var s)) Console.WriteLine(Line(name, s.Milliseconds, whole));
        Console.WriteLine(Line("rest", whole - ProfileSections.Pipeline.Sum(n => sections.GetValueOrDefault(n).Milliseconds), whole));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"UNet calls inside the sampler: {unet:0} ms; sections as timed on the calling thread (with branches side by side: its own branch)"));
        var inner = sections.Where(kv => !ProfileSections.Pipeline.Contains(kv.Key)).OrderByDescending(kv => kv.Value.Milliseconds).ToList();
        foreach (var (name, (ms, count)) in inner) Console.WriteLine(Line(name, ms, unet, count));
        Console.WriteLine(Line("rest (conv in/out, up/downsample, time embedding, guidance)", unet - inner.Sum(kv => kv.Value.Milliseconds), unet));
    }

    /// <summary>
    /// A bundle with random weights and the mini sizes: VAE, UNet and text encoder of the trainers' defaults, the CLAP
    /// encoder and front end of <see cref="ClapTrainingOptions"/>, a 77-token projector from its embedding width to the
    /// UNet's context width, and gated adapters at the official sites.
    /// </summary>
    private static string WriteRandomMiniBundle(string dir)
    {
        torch.manual_seed(0);
        string vaeDir = dir + ".vae";
        using (var vae = new AutoencoderKL(VaeTrainingOptions.DefaultModel)) ModelExport.WriteVae(vae, vaeDir, 1.0);
        var unetConfig = BaseModelTrainingOptions.DefaultUnet;
        using (var unet = new UNet2DConditionModel(unetConfig))
        using (var text = new ClipTextModel(BaseModelTrainingOptions.DefaultText))
            ModelExport.WriteStableDiffusion(dir, unet, text, vaeDir);
        Directory.Delete(vaeDir, true);
        SonicDiffusionModel.WriteModelIndex(dir);
        var projectorConfig = new AudioProjectorConfig { AudioDim = ClapTrainingOptions.DefaultModel.DProj, ContextDim = unetConfig.CrossAttentionDim };
        using (var encoder = new ClapAudioEncoder(ClapTrainingOptions.DefaultModel))
            ModelExport.WriteAudioEncoder(encoder, ClapTrainingOptions.DefaultFrontEnd, Path.Combine(dir, SonicDiffusionModel.AudioEncoderFolder));
        using (var projector = new AudioProjector(projectorConfig))
            WritePart(Path.Combine(dir, SonicDiffusionModel.AudioProjectorFolder), projector.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), projectorConfig);
        using (var unet = new UNet2DConditionModel(unetConfig))
        {
            var set = AudioAdapterSet.Install(unet, new AudioAdapterConfig());
            WritePart(Path.Combine(dir, SonicDiffusionModel.AdaptersFolder), set.Parameters().Select(kv => (kv.Key, kv.Value)),
                new AudioAdapterConfig { Sites = set.Sites.Select(s => s.Path).ToArray() });
        }
        return dir;
    }

    private static void WritePart<T>(string dir, IEnumerable<(string Name, Tensor Tensor)> tensors, T config)
    {
        Directory.CreateDirectory(dir);
        var dict = tensors.ToDictionary(kv => kv.Name, kv => kv.Tensor.detach().to_type(ScalarType.Float16));
        SafetensorsWriter.Write(Path.Combine(dir, SonicDiffusionModel.WeightsFile), dict);
        foreach (var t in dict.Values) t.Dispose();
        ConfigJson.Write(Path.Combine(dir, SonicDiffusionModel.ConfigFile), config);
    }
}
