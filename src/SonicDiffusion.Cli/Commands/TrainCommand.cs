using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Text;
using SonicDiffusion.Training;
using static TorchSharp.torch;

namespace SonicDiffusion.Cli.Commands;

/// <summary>
/// <c>sonic train vae|base|clap</c>: the resumable trainers of the mini world's models. Each reads a manifest, builds
/// (or reuses) its preprocessing cache, trains in RUN_DIR with the training engine and, once the step count is
/// reached, exports the product folder (vae/, a diffusers model folder, audio_encoder/).
/// </summary>
public static partial class TrainCommand
{
    public static Command Create()
    {
        var cmd = new Command("train", "Train the mini world's models and SonicDiffusion stages 1-2 (resumable: --resume continues RUN_DIR from its last checkpoint)");
        cmd.Subcommands.Add(Vae());
        cmd.Subcommands.Add(Base());
        cmd.Subcommands.Add(Clap());
        cmd.Subcommands.Add(Classifier());
        cmd.Subcommands.Add(StageTrainCommand.Stage1());
        cmd.Subcommands.Add(StageTrainCommand.Stage2());
        return cmd;
    }

    internal sealed record Defaults(long Steps, int Batch, double Lr, long Warmup, double MinLrRatio, double? Ema, long CheckpointEvery);

    /// <summary>Options every trainer has.</summary>
    internal sealed class Common
    {
        public readonly Option<string> Data = new("--data") { Description = "Dataset manifest (.jsonl or .csv)", Required = true };
        public readonly Option<string> Out = new("--out") { Description = "Run folder (config.json, metrics.jsonl, loss.png, checkpoints/, export)", Required = true };
        public readonly Option<bool> Resume = new("--resume") { Description = "Continue the run in --out from its last checkpoint (starts fresh when it has none)" };
        public readonly Option<long> Steps;
        public readonly Option<int> Batch;
        public readonly Option<double> Lr;
        public readonly Option<long> Warmup;
        public readonly Option<double> Ema;
        public readonly Option<long> Seed = new("--seed") { Description = "Seed of initialisation, data order and noise", DefaultValueFactory = _ => 0 };
        public readonly Option<long> CheckpointEvery;
        public readonly Option<double> CheckpointMinutes = new("--checkpoint-minutes") { Description = "Also checkpoint after this many minutes", DefaultValueFactory = _ => 10 };
        public readonly Option<string> Split = new("--split") { Description = "Manifest split to train on", DefaultValueFactory = _ => "train" };
        public readonly Option<string?> Cache = new("--cache") { Description = "Preprocessing cache folder (default: cache/ next to the manifest)" };
        public readonly Option<string?> Export = new("--export") { Description = "Export folder (default: inside --out)" };
        public readonly Option<string> ExportDtype = new("--export-dtype") { Description = "Stored weight dtype of the export: float16 or float32", DefaultValueFactory = _ => "float16" };
        public readonly Option<string?> Config = new("--config") { Description = "Task options JSON (model configs, loss weights...); defaults are the mini-world sizes" };
        public readonly Option<int> Threads = new("--threads") { Description = "Worker threads for building caches", DefaultValueFactory = _ => Environment.ProcessorCount };

        public Common(Defaults d)
        {
            Steps = new("--steps") { Description = "Total optimizer steps (may be raised on --resume)", DefaultValueFactory = _ => d.Steps };
            Batch = new("--batch") { Description = "Batch size", DefaultValueFactory = _ => d.Batch };
            Lr = new("--lr") { Description = "Peak learning rate (AdamW; linear warm-up, then cosine decay)", DefaultValueFactory = _ => d.Lr };
            Warmup = new("--warmup") { Description = "Warm-up steps", DefaultValueFactory = _ => d.Warmup };
            Ema = new("--ema") { Description = "EMA decay of the weights (0 = off); the export uses the EMA weights", DefaultValueFactory = _ => d.Ema ?? 0 };
            CheckpointEvery = new("--checkpoint-every") { Description = "Checkpoint every N steps", DefaultValueFactory = _ => d.CheckpointEvery };
            MinLrRatio = d.MinLrRatio;
        }

        public double MinLrRatio { get; }

        public void AddTo(Command cmd)
        {
            foreach (var o in new Option[] { Data, Out, Resume, Steps, Batch, Lr, Warmup, Ema, Seed, CheckpointEvery, CheckpointMinutes, Split, Cache, Export, ExportDtype, Config, Threads })
                cmd.Options.Add(o);
        }

        public TrainingConfig Training(ParseResult pr)
        {
            double ema = pr.GetValue(Ema);
            if (ema is < 0 or >= 1) throw new SonicException($"--ema {ema.ToString(CultureInfo.InvariantCulture)}: must be in [0, 1) (0 = off)");
            return new TrainingConfig
            {
                Seed = pr.GetValue(Seed),
                TotalSteps = pr.GetValue(Steps),
                BatchSize = pr.GetValue(Batch),
                LearningRate = pr.GetValue(Lr),
                LrSchedule = new LrSchedule { Kind = LrSchedule.Cosine, WarmupSteps = pr.GetValue(Warmup), MinLrRatio = MinLrRatio },
                EmaDecay = ema > 0 ? ema : null,
                CheckpointEvery = pr.GetValue(CheckpointEvery),
                CheckpointMinutes = pr.GetValue(CheckpointMinutes) is > 0 and var m ? m : null,
                KeepLast = 3,
            };
        }

        public ScalarType Dtype(ParseResult pr) => pr.GetValue(ExportDtype)!.ToLowerInvariant() switch
        {
            "float16" or "fp16" => ScalarType.Float16,
            "float32" or "fp32" => ScalarType.Float32,
            var s => throw new SonicException($"--export-dtype {s}: use float16 or float32"),
        };

        /// <summary>The manifest's rows of --split (bad rows are reported and skipped).</summary>
        public (DatasetManifest Manifest, List<ManifestRow> Rows) ReadRows(ParseResult pr)
        {
            var manifest = DatasetManifest.Read(pr.GetValue(Data)!);
            if (manifest.Issues.Count > 0)
                Console.Error.WriteLine($"warning: skipping {manifest.Issues.Count} bad manifest row(s) (first: {manifest.Issues[0]})");
            string split = pr.GetValue(Split)!;
            var rows = manifest.Rows.Where(r => r.Split == split).ToList();
            if (rows.Count == 0) throw new SonicException($"{manifest.FilePath}: no rows in split '{split}'");
            return (manifest, rows);
        }

        /// <summary>
        /// Models constructed inside this scope draw their initial weights from the --seed stream <paramref name="purpose"/>
        /// alone, whatever ran before in the process (e.g. a cache built now or found on disk); a resumed run loads its
        /// weights over them.
        /// </summary>
        public IDisposable Init(ParseResult pr, string purpose) => RandomStreams.InitScope(pr.GetValue(Seed), purpose);

        public string CacheDir(ParseResult pr, DatasetManifest manifest) => pr.GetValue(Cache) ?? Path.Combine(manifest.BaseDirectory, "cache");

        public string ExportDir(ParseResult pr, string name) => pr.GetValue(Export) ?? Path.Combine(pr.GetValue(Out)!, name);

        public T Options<T>(ParseResult pr, T defaults) => pr.GetValue(Config) is { } path ? ConfigJson.Read<T>(path) : defaults;

        /// <summary>Refuses to touch a run folder that has checkpoints unless --resume was given.</summary>
        public string RunDir(ParseResult pr)
        {
            string dir = Path.GetFullPath(pr.GetValue(Out)!);
            if (!pr.GetValue(Resume) && TrainingCheckpoint.Latest(Path.Combine(dir, Trainer.CheckpointsFolder)) is { } latest)
                throw new SonicException($"{dir}: run folder already has checkpoints (step {latest.Step}); pass --resume to continue it or choose a new --out");
            return dir;
        }
    }

    internal static void Log(string line) => Console.WriteLine(line);

    /// <summary>Trains to the configured step count; true when it got there (false after Ctrl+C / SIGTERM, which checkpoint first).</summary>
    internal static bool RunTrainer(Trainer trainer, string what)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(CliContext.Cancellation);
        using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => { ctx.Cancel = true; cts.Cancel(); });
        if (trainer.ResumedFromStep >= 0) Log($"{what}: resumed from step {trainer.ResumedFromStep} ({trainer.LastCheckpoint})");
        Log($"{what}: {trainer.Config.TotalSteps} steps, batch {trainer.Config.BatchSize}, {trainer.Data.DatasetSize} samples, run folder {trainer.RunDirectory}");
        var result = ConsoleProgress.Run(p => trainer.Run(p, cts.Token));
        Log(result.Cancelled
            ? $"{what}: stopped at step {result.Step} of {result.TotalSteps}; checkpoint {result.LastCheckpoint} (resume with --resume)"
            : string.Create(CultureInfo.InvariantCulture, $"{what}: finished {result.Step} steps in {trainer.ElapsedSeconds / 60:0.0} min, last loss {result.LastLoss:G5}"));
        return !result.Cancelled;
    }

    internal static string FolderSize(string dir)
    {
        long bytes = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);
        return string.Create(CultureInfo.InvariantCulture, $"{bytes / 1048576.0:0.00} MB");
    }

    // ---------------------------------------------------------------- vae

    private static Command Vae()
    {
        var common = new Common(new Defaults(Steps: 6000, Batch: 16, Lr: 4e-4, Warmup: 200, MinLrRatio: 0.1, Ema: null, CheckpointEvery: 500));
        var cmd = new Command("vae", "Train the f=8 AutoencoderKL on the manifest's images (L1 + edge + KL); export a diffusers vae/ folder with scaling_factor = 1/std of the latents");
        common.AddTo(cmd);
        cmd.SetAction(pr =>
        {
            var options = common.Options(pr, new VaeTrainingOptions()).Validate();
            var (manifest, rows) = common.ReadRows(pr);
            string runDir = common.RunDir(pr);
            using var images = ConsoleProgress.Run(p => ImageCache.LoadOrBuild(manifest, rows, options.Resolution, common.CacheDir(pr, manifest), p, Log, pr.GetValue(common.Threads), CliContext.Cancellation));
            VaeTrainingTask task;
            using (common.Init(pr, "train vae init")) task = new VaeTrainingTask(images, options, Log);
            using var _ = task;
            using var trainer = new Trainer(task, common.Training(pr), runDir);
            if (!RunTrainer(trainer, "train vae")) return 130;
            string export = common.ExportDir(pr, "vae");
            double scaling = task.Export(trainer, export, common.Dtype(pr));
            Log(string.Create(CultureInfo.InvariantCulture, $"train vae: exported {export} ({FolderSize(export)}), scaling_factor {scaling:G6}, preview L1 {task.PreviewError():F4}"));
            return 0;
        });
        return cmd;
    }

    // ---------------------------------------------------------------- base

    private static Command Base()
    {
        var common = new Common(new Defaults(Steps: 12000, Batch: 32, Lr: 3e-4, Warmup: 500, MinLrRatio: 0.1, Ema: 0.999, CheckpointEvery: 500));
        var vae = new Option<string>("--vae") { Description = "The trained VAE folder (config.json + weights); its latents are cached", Required = true };
        var textLr = new Option<double?>("--text-lr") { Description = "Learning rate of the text encoder (default: --lr)" };
        var preview = new Option<int>("--preview") { Description = "Captions rendered into samples.png at each checkpoint (one per class; 0 = none)", DefaultValueFactory = _ => 9 };
        var teacher = new Option<string?>("--teacher") { Description = "Distil from this trained model folder: keep its text encoder (frozen), start the UNet from its tensors where name and shape match, add the MSE to its predictions" };
        var distillWeight = new Option<double?>("--distill-weight") { Description = "Weight of the MSE to the teacher's prediction (default 1)" };
        var fragments = new Option<double?>("--caption-fragments") { Description = "Probability that a caption is replaced by a random span of 1-4 of its words (with --teacher: the student learns the teacher's answer to short prompts such as \"at night\"); default 0" };
        var cmd = new Command("base", "Train the text-to-image latent diffusion model (UNet + CLIP text encoder, jointly, from scratch) on cached VAE latents; export a diffusers model folder");
        common.AddTo(cmd);
        cmd.Options.Add(vae);
        cmd.Options.Add(textLr);
        cmd.Options.Add(preview);
        cmd.Options.Add(teacher);
        cmd.Options.Add(distillWeight);
        cmd.Options.Add(fragments);
        cmd.SetAction(pr =>
        {
            var options = common.Options(pr, new BaseModelTrainingOptions());
            if (pr.GetValue(textLr) is { } tl) options = options with { TextLearningRate = tl };
            if (pr.GetValue(distillWeight) is { } dw) options = options with { DistillationWeight = dw };
            if (pr.GetValue(fragments) is { } fp) options = options with { FragmentProbability = fp };
            if (pr.GetValue(teacher) is { } teacherDir)
            {
                string textConfig = Path.Combine(teacherDir, "text_encoder", "config.json");
                if (!File.Exists(textConfig)) throw new SonicException($"--teacher {teacherDir}: no text_encoder/config.json (give a model folder written by 'sonic train base')");
                options = options with { Teacher = Path.GetFullPath(teacherDir), Text = ClipTextConfig.FromFile(textConfig), DistillationWeight = options.DistillationWeight ?? 1.0 };
            }
            else if (pr.GetValue(distillWeight) is not null) throw new SonicException("--distill-weight needs --teacher");
            options.Validate();
            var (manifest, rows) = common.ReadRows(pr);
            string runDir = common.RunDir(pr);
            string vaeDir = Path.GetFullPath(pr.GetValue(vae)!);
            int resolution;
            using (var vaeModel = ModelExport.LoadVae(vaeDir)) resolution = vaeModel.Config.SampleSize ?? 128;
            string cacheDir = common.CacheDir(pr, manifest);
            LatentCache cached;
            IReadOnlyList<ManifestRow> cachedRows;
            using (var images = ConsoleProgress.Run(p => ImageCache.LoadOrBuild(manifest, rows, resolution, cacheDir, p, Log, pr.GetValue(common.Threads), CliContext.Cancellation)))
            {
                cached = ConsoleProgress.Run(p => LatentCache.LoadOrBuild(images, vaeDir, cacheDir, 32, p, Log, CliContext.Cancellation));
                cachedRows = images.Rows;
            }
            using var latents = cached;
            var captions = cachedRows.Select(r => r.Caption).ToList();
            int previews = Math.Max(0, pr.GetValue(preview));
            BaseModelTrainingTask task;
            using (common.Init(pr, "train base init"))
                task = new BaseModelTrainingTask(latents, captions, vaeDir, options, Log)
                {
                    PreviewPrompts = BaseModelTrainingTask.OneCaptionPerLabel(cachedRows).Take(previews).ToList(),
                };
            using var _ = task;
            using var trainer = new Trainer(task, common.Training(pr), runDir);
            if (!RunTrainer(trainer, "train base")) return 130;
            string export = common.ExportDir(pr, "model");
            task.Export(trainer, export, common.Dtype(pr));
            Log($"train base: exported {export} ({FolderSize(export)}); try: sonic txt2img --model {export} --size 128 --prompt \"{captions[0]}\"");
            return 0;
        });
        return cmd;
    }

    // ---------------------------------------------------------------- clap

    private static Command Clap()
    {
        var common = new Common(new Defaults(Steps: 3000, Batch: 64, Lr: 1e-3, Warmup: 200, MinLrRatio: 0.05, Ema: null, CheckpointEvery: 250));
        var textEncoder = new Option<string>("--text-encoder") { Description = "The frozen text encoder: a text_encoder/ folder, or a model folder containing one", Required = true };
        var augment = new Option<bool>("--augment")
        {
            Description = "Augment the cached crops (speed, tilt, reverb, background, noise, gain, clipping, MP3/Ogg round trip with Debian's ffmpeg); crop 0 of each clip stays clean; at least 3 crops per clip",
        };
        var init = new Option<string?>("--init") { Description = "Fine-tune: start the audio encoder from this audio_encoder/ folder (same sizes and front end); ignored when --resume finds a checkpoint" };
        var cmd = new Command("clap", "Train the CNN14-style audio encoder CLAP-style (symmetric InfoNCE against the frozen text encoder's pooled caption embedding); export audio_encoder/");
        common.AddTo(cmd);
        cmd.Options.Add(textEncoder);
        cmd.Options.Add(augment);
        cmd.Options.Add(init);
        cmd.SetAction(pr =>
        {
            var options = common.Options(pr, new ClapTrainingOptions());
            if (pr.GetValue(augment) && options.Augment is null) options = options with { Augment = new AudioAugmentationOptions(), CropsPerClip = Math.Max(3, options.CropsPerClip) };
            options = options.Validate();
            var augmentation = options.Augment is { } a ? new AudioAugmentation(a, options.FrontEnd.SampleRate) : null;
            if (augmentation is { HasCodec: false }) Log("train clap: ffmpeg not found, so the augmentation leaves out the MP3/Ogg round trip (apt-get install ffmpeg)");
            var (manifest, rows) = common.ReadRows(pr);
            string runDir = common.RunDir(pr);
            string textDir = pr.GetValue(textEncoder)!;
            if (Directory.Exists(Path.Combine(textDir, "text_encoder"))) textDir = Path.Combine(textDir, "text_encoder");
            using var mels = ConsoleProgress.Run(p => MelCache.LoadOrBuild(manifest, rows, options.FrontEnd, options.CropsPerClip, common.CacheDir(pr, manifest), p, Log, pr.GetValue(common.Threads), CliContext.Cancellation, augmentation));
            Tensor pooled;
            using (var text = ClipTextModel.FromFolder(textDir))
                pooled = ClapTrainingTask.PoolCaptions(text, ClipTokenizer.Default, mels.Rows.Select(r => r.Caption).ToList());
            ClapTrainingTask task;
            using (common.Init(pr, "train clap init")) task = new ClapTrainingTask(mels, pooled, options, Log);
            using var _ = task;
            if (pr.GetValue(init) is { } from)
            {
                if (!Directory.Exists(from)) throw new SonicException($"--init {from}: no such folder");
                task.InitAudioEncoder(Directory.Exists(Path.Combine(from, "audio_encoder")) ? Path.Combine(from, "audio_encoder") : from);
            }
            pooled.Dispose();
            using var trainer = new Trainer(task, common.Training(pr), runDir);
            if (!RunTrainer(trainer, "train clap")) return 130;
            string export = common.ExportDir(pr, "audio_encoder");
            string head = Path.Combine(runDir, "clap_text_head.safetensors");
            task.Export(trainer, export, head, common.Dtype(pr));
            Log(string.Create(CultureInfo.InvariantCulture, $"train clap: exported {export} ({FolderSize(export)}) and {head}; caption retrieval class agreement {task.RetrievalClassAgreement():P1}"));
            return 0;
        });
        return cmd;
    }
}
