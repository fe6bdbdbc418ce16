using System.CommandLine;
using System.Globalization;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Training;
using static SonicDiffusion.Cli.Commands.TrainCommand;

namespace SonicDiffusion.Cli.Commands;

/// <summary>
/// <c>sonic train stage1|stage2</c>: SonicDiffusion's two training stages on any paired audio–image manifest
/// (see docs/sonic-training.md). Both read the preprocessing cache of <c>sonic data cache</c> (built on first use),
/// train resumably in RUN_DIR and export the result as bundle parts and as the released official files.
/// </summary>
public static class StageTrainCommand
{
    /// <summary>Options both stages have besides the engine's.</summary>
    private sealed class StageCommon
    {
        public readonly Option<string> Model = new("--model") { Description = "Stable Diffusion v1 diffusers folder or SonicDiffusion bundle (its text encoder, VAE and UNet are used frozen)", Required = true };
        public readonly Option<string?> AudioEncoder = new("--audio-encoder") { Description = "CLAP audio encoder folder (default: <model>/audio_encoder)" };
        public readonly Option<int> Crops = new("--crops") { Description = "CLAP crops per clip in the cache (crop 0 = the inference window)", DefaultValueFactory = _ => 2 };
        public readonly Option<string> Schedule = new("--lr-schedule") { Description = "cosine (to 10 % after warm-up) or constant", DefaultValueFactory = _ => "cosine" };
        public readonly Option<string> Name = new("--name") { Description = "Name of the official export files (<name>.pt, audio_projector_<name>.pth)", DefaultValueFactory = _ => "sonic" };
        public readonly Option<int?> Tokens = new("--tokens") { Description = "Audio tokens K of a new projector (77 official; 1 = the single-token ablation)" };
        public readonly Option<bool> Chained = new("--chained") { Description = "New projector with chained residual blocks instead of the official (only the last block matters)" };

        public void AddTo(Command cmd)
        {
            foreach (var o in new Option[] { Model, AudioEncoder, Crops, Schedule, Name, Tokens, Chained }) cmd.Options.Add(o);
        }

        public TrainingConfig Training(ParseResult pr, Common common)
        {
            var c = common.Training(pr);
            return pr.GetValue(Schedule)!.ToLowerInvariant() switch
            {
                "cosine" => c,
                "constant" => c with { LrSchedule = c.LrSchedule with { Kind = LrSchedule.Constant } },
                var s => throw new SonicException($"--lr-schedule {s}: use cosine or constant"),
            };
        }

        /// <summary>A new projector config (official sizes) for these encoders, with --tokens / --chained applied.</summary>
        public AudioProjectorConfig NewProjector(ParseResult pr, AudioProjectorConfig? fromConfig, int audioDim, long contextDim)
        {
            var p = fromConfig ?? new AudioProjectorConfig { AudioDim = audioDim, ContextDim = (int)contextDim };
            if (pr.GetValue(Tokens) is { } k) p = p with { AudioTokenCount = k };
            if (pr.GetValue(Chained)) p = p with { ResidualMode = AudioProjectorConfig.ResidualChained };
            return p;
        }

        public SonicDataCache OpenCache(ParseResult pr, Common common, DatasetManifest manifest, List<ManifestRow> rows, bool latents, int? resolution) =>
            ConsoleProgress.Run(p => SonicDataCache.LoadOrBuild(manifest, rows, pr.GetValue(Model)!, pr.GetValue(AudioEncoder), pr.GetValue(Crops),
                latents, resolution, common.CacheDir(pr, manifest), p, Log, pr.GetValue(common.Threads), CliContext.Cancellation));
    }

    private static void Skipped(SonicDataCache data, DatasetManifest manifest)
    {
        int bad = manifest.Issues.Count + data.SkippedAudio + data.SkippedImages;
        if (bad > 0)
            Console.Error.WriteLine($"warning: skipped {bad} bad row(s): {manifest.Issues.Count} unparsable, {data.SkippedAudio} unreadable audio, {data.SkippedImages} unreadable images (run sonic data check {manifest.FilePath})");
    }

    // ---------------------------------------------------------------- stage 1

    public static Command Stage1()
    {
        var common = new Common(new Defaults(Steps: 2000, Batch: 6, Lr: 1e-4, Warmup: 100, MinLrRatio: 0.1, Ema: null, CheckpointEvery: 250));
        var stage = new StageCommon();
        var negatives = new Option<int?>("--negatives") { Description = "Other-class negatives per anchor, at most (default 128)" };
        var temperature = new Option<double?>("--temperature") { Description = "InfoNCE temperature (default 0.07)" };
        var alpha1 = new Option<double?>("--alpha-infonce") { Description = "α1, weight of InfoNCE (default 1.0)" };
        var alpha2 = new Option<double?>("--alpha-mse") { Description = "α2, weight of the weighted MSE (default 0.25)" };
        var noInfoNce = new Option<bool>("--no-infonce") { Description = "Ablation: α1 = 0" };
        var noMse = new Option<bool>("--no-mse") { Description = "Ablation: α2 = 0" };
        var init = new Option<string?>("--init-projector") { Description = "Start from this projector (folder or official .pth) instead of a random one" };
        var cmd = new Command("stage1", "SonicDiffusion stage 1: train the audio projector (α1·InfoNCE over classes + α2·reverse-sigmoid-weighted MSE to the caption's CLIP tokens); export audio_projector/ and audio_projector_<name>.pth");
        common.AddTo(cmd);
        stage.AddTo(cmd);
        foreach (var o in new Option[] { negatives, temperature, alpha1, alpha2, noInfoNce, noMse, init }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            var options = common.Options(pr, new Stage1Options());
            if (pr.GetValue(negatives) is { } n) options = options with { Negatives = n };
            if (pr.GetValue(temperature) is { } t) options = options with { Temperature = t };
            if (pr.GetValue(alpha1) is { } a1) options = options with { InfoNceWeight = a1 };
            if (pr.GetValue(alpha2) is { } a2) options = options with { MseWeight = a2 };
            if (pr.GetValue(noInfoNce)) options = options with { InfoNceWeight = 0 };
            if (pr.GetValue(noMse)) options = options with { MseWeight = 0 };
            options.Validate();
            var (manifest, rows) = common.ReadRows(pr);
            string runDir = common.RunDir(pr);
            using var data = stage.OpenCache(pr, common, manifest, rows, latents: false, resolution: null);
            Skipped(data, manifest);
            AudioProjector? start = pr.GetValue(init) is { } initPath ? SonicTrainingExport.LoadProjector(initPath) : null;
            options = options with { Projector = start?.Config ?? stage.NewProjector(pr, options.Projector, data.Clap.Dim, data.Tokens.Hidden) };
            Stage1TrainingTask task;
            using (start)
            using (common.Init(pr, "train stage1 init"))
                task = new Stage1TrainingTask(data, options, start?.named_parameters().ToDictionary(p => p.name, p => (TorchSharp.torch.Tensor)p.parameter), pr.GetValue(init) ?? "") { Log = Log };
            using var _ = task;
            using var trainer = new Trainer(task, stage.Training(pr, common), runDir);
            if (!RunTrainer(trainer, "train stage1")) return 130;
            string export = common.ExportDir(pr, "export");
            using (trainer.Ema?.SwapIn())
            {
                SonicTrainingExport.WriteProjectorFolder(task.Projector, Path.Combine(export, SonicDiffusionModel.AudioProjectorFolder));
                var (_, proj) = SonicTrainingExport.WriteOfficial(Path.Combine(export, "official"), pr.GetValue(stage.Name)!, task.Projector, null);
                var ev = task.Evaluate(task.Probe());
                Log($"train stage1: exported {Path.Combine(export, SonicDiffusionModel.AudioProjectorFolder)} and {proj}; probe loss " +
                    string.Join(", ", ev.Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:G5}"))));
                Log($"next: sonic train stage2 --data {pr.GetValue(common.Data)} --model {pr.GetValue(stage.Model)} --projector {Path.Combine(export, SonicDiffusionModel.AudioProjectorFolder)} --out RUN2");
            }
            return 0;
        });
        return cmd;
    }

    // ---------------------------------------------------------------- stage 2

    public static Command Stage2()
    {
        var common = new Common(new Defaults(Steps: 20000, Batch: 6, Lr: 1e-4, Warmup: 200, MinLrRatio: 0.1, Ema: null, CheckpointEvery: 500));
        var stage = new StageCommon();
        var projector = new Option<string?>("--projector") { Description = "Starting projector: a stage-1 export (audio_projector/ folder) or an official .pth (default: the bundle's audio_projector/)" };
        var fresh = new Option<bool>("--fresh-projector") { Description = "Ablation 'skip stage 1': start from a randomly initialised projector" };
        var freeze = new Option<bool>("--freeze-projector") { Description = "Ablation: keep the projector frozen (train only the adapters)" };
        var ratio = new Option<double?>("--projector-lr-ratio") { Description = "Projector learning rate = ratio × --lr (default 0.1)" };
        var sites = new Option<string?>("--sites") { Description = "Adapter sites: down,mid,up regions, last:N decoder blocks, or transformer block paths (default mid,up = official)" };
        var gateInit = new Option<double?>("--gate-init") { Description = "Initial γ (default 0 = exact no-op start; 0.1 as the diffusers port)" };
        var fromText = new Option<bool>("--init-from-text-attn") { Description = "Initialise each adapter attention from its block's text cross-attention (attn2) where shapes allow" };
        var initAdapters = new Option<string?>("--init-adapters") { Description = "Fine-tune: start the adapters from trained ones (a bundle, its adapters/ folder, or an official <name>.pt); their sites are used unless --sites is given" };
        var captionP = new Option<double?>("--caption-prob") { Description = "Probability of conditioning on the caption, else \"\" (default 0.5)" };
        var nullP = new Option<double?>("--null-audio-prob") { Description = "Probability of the null audio projector(0) instead of the sound (default 0.1)" };
        var resolution = new Option<int?>("--resolution") { Description = "Image resolution of the latent cache (default: the VAE's sample_size)" };
        var cmd = new Command("stage2", "SonicDiffusion stage 2: train the gated audio cross-attention adapters (+ projector at a smaller LR) on the frozen UNet with the DDPM ε-loss; export a bundle and the official <name>.pt / audio_projector_<name>.pth");
        common.AddTo(cmd);
        stage.AddTo(cmd);
        foreach (var o in new Option[] { projector, fresh, freeze, ratio, sites, gateInit, fromText, initAdapters, captionP, nullP, resolution }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            var options = common.Options(pr, new Stage2Options());
            string model = pr.GetValue(stage.Model)!;
            if (pr.GetValue(freeze)) options = options with { FreezeProjector = true };
            if (pr.GetValue(ratio) is { } r) options = options with { ProjectorLrRatio = r };
            if (pr.GetValue(gateInit) is { } gi) options = options with { Adapters = options.Adapters with { GateInit = gi } };
            if (pr.GetValue(fromText)) options = options with { InitFromTextAttention = true };
            if (pr.GetValue(captionP) is { } cp) options = options with { CaptionProbability = cp };
            if (pr.GetValue(nullP) is { } np) options = options with { NullAudioProbability = np };
            if (pr.GetValue(initAdapters) is { } initPath) options = options with { InitAdapters = Path.GetFullPath(AdapterWeightsFile(initPath)) };
            options.Validate();
            var (manifest, rows) = common.ReadRows(pr);
            string runDir = common.RunDir(pr);
            using var data = stage.OpenCache(pr, common, manifest, rows, latents: true, resolution: pr.GetValue(resolution));
            Skipped(data, manifest);
            using var sd = StableDiffusionComponents.Load(model);
            if (options.InitAdapters is { } initFile && pr.GetValue(sites) is null)
            {
                var blocks = AudioAdapterConfig.AllTransformerBlocks(sd.Unet.Config).Select(b => b.Path).ToHashSet(StringComparer.Ordinal);
                var fileSites = SonicDiffusionModel.GateDictSites(initFile, sd.Unet.Config);
                var usable = fileSites.Where(blocks.Contains).ToArray();
                if (usable.Length == 0) throw new SonicException($"--init-adapters {initFile}: none of its {fileSites.Count} adapter sites is a transformer block of {model}'s UNet");
                options = options with { Adapters = options.Adapters with { Sites = usable } };
            }
            if (pr.GetValue(sites) is { } spec) options = options with { Adapters = Stage2Options.ParseSites(spec, sd.Unet.Config, options.Adapters) };

            AudioProjector proj;
            string? projectorPath = pr.GetValue(projector);
            string bundleProjector = Path.Combine(model, SonicDiffusionModel.AudioProjectorFolder);
            if (pr.GetValue(fresh))
            {
                if (projectorPath != null) throw new SonicException("--fresh-projector and --projector exclude each other");
                using (common.Init(pr, "train stage2 projector init"))
                    proj = new AudioProjector(stage.NewProjector(pr, null, data.Clap.Dim, data.Tokens.Hidden));
                options = options with { ProjectorSource = "fresh" };
            }
            else
            {
                projectorPath ??= Directory.Exists(bundleProjector) ? bundleProjector
                    : throw new SonicException($"{model}: no {SonicDiffusionModel.AudioProjectorFolder}/; give the stage-1 export with --projector, or --fresh-projector to skip stage 1");
                proj = SonicTrainingExport.LoadProjector(projectorPath);
                options = options with { ProjectorSource = Path.GetFullPath(projectorPath) };
            }
            using var _ = proj;
            var training = stage.Training(pr, common);
            Stage2TrainingTask task;
            using (common.Init(pr, "train stage2 adapters init"))
                task = new Stage2TrainingTask(data, sd.Unet, proj, options, training.LearningRate) { Log = Log };
            using var trainer = new Trainer(task, training, runDir);
            if (task.SkippedInitSites.Count > 0)
                Log($"train stage2: {task.SkippedInitSites.Count} adapter sites of {options.InitAdapters} are not in this UNet and were left out: {string.Join(", ", task.SkippedInitSites)}");
            if (options.InitAdapters is { } from)
                Log($"train stage2: adapters start from {from} (mean |tanh γ| {task.Adapters.Adapters.Average(a => Math.Abs(Math.Tanh(a.gate_adapter!.item<float>()))).ToString("0.000", CultureInfo.InvariantCulture)})");
            Log($"train stage2: {task.Adapters.Sites.Count} adapter sites ({task.Adapters.PlacementText()}), projector {(options.FreezeProjector ? "frozen" : $"lr × {options.ProjectorLrRatio}")} from {options.ProjectorSource}");
            if (!RunTrainer(trainer, "train stage2")) return 130;
            string export = common.ExportDir(pr, "export");
            using (trainer.Ema?.SwapIn())
            {
                string bundle = Path.Combine(export, "bundle");
                SonicTrainingExport.WriteBundle(bundle, model, SonicDataCache.AudioEncoderDir(model, pr.GetValue(stage.AudioEncoder)), proj, task.Adapters);
                var (gate, projFile) = SonicTrainingExport.WriteOfficial(Path.Combine(export, "official"), pr.GetValue(stage.Name)!, proj, task.Adapters);
                Log($"train stage2: exported {bundle} ({FolderSize(bundle)}), {gate} and {projFile}");
                Log($"try: sonic generate --model {bundle} --audio {manifest.AudioPath(data.Rows[0])}");
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>The gate dict file of <c>--init-adapters</c>: a file as given, a folder's weights, or a bundle's <c>adapters/</c> weights.</summary>
    private static string AdapterWeightsFile(string path)
    {
        if (File.Exists(path)) return path;
        if (!Directory.Exists(path)) throw new SonicException($"--init-adapters {path}: no such file or folder");
        string inBundle = Path.Combine(path, SonicDiffusionModel.AdaptersFolder);
        return StableDiffusionComponents.FindWeights(Directory.Exists(inBundle) ? inBundle : path);
    }
}
