using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// The resumable training loop. It owns AdamW, the LR schedule, gradient clipping, the optional EMA, checkpoints, the
/// run folder (config.json, metrics.jsonl, loss.png, checkpoints/) and progress; an <see cref="ITrainingTask"/> owns
/// the model and computes the loss. Constructing a Trainer on a folder that already holds a run resumes it from its
/// latest complete checkpoint, and the resumed run reaches bit-identical weights to an uninterrupted one (CPU).
/// </summary>
public sealed class Trainer : IDisposable
{
    public const string ConfigFile = "config.json";
    public const string MetricsFile = "metrics.jsonl";
    public const string PlotFile = "loss.png";
    public const string CheckpointsFolder = "checkpoints";
    private const string Format = "sonicdiffusion-training/1";

    private readonly ITrainingTask _task;
    private readonly IReadOnlyList<ParameterGroup> _groups;
    private readonly List<(string Name, Parameter Param)> _params;
    private readonly MetricsLog _metrics;
    private readonly Stopwatch _clock = new();
    private double _elapsedBase;
    private double _lastCheckpointElapsed;
    private long _lastCheckpointStep = -1;

    public TrainingConfig Config { get; }
    public string RunDirectory { get; }
    public string CheckpointsDirectory => Path.Combine(RunDirectory, CheckpointsFolder);
    public AdamWOptimizer Optimizer { get; }
    public EmaModel? Ema { get; }
    public DataOrder Data { get; }
    /// <summary>The engine's CPU generator handed to the task in each <see cref="TrainingBatch"/>; checkpointed.</summary>
    public Generator Generator { get; }
    /// <summary>Completed optimizer updates.</summary>
    public long Step { get; private set; }
    /// <summary>The checkpoint step this run resumed from, or -1 for a fresh run.</summary>
    public long ResumedFromStep { get; } = -1;
    public string? LastCheckpoint { get; private set; }
    public IReadOnlyList<MetricsEntry> Metrics => _metrics.Entries;
    public double ElapsedSeconds => _elapsedBase + _clock.Elapsed.TotalSeconds;
    /// <summary>
    /// True when the current step is a multiple of checkpoint_every or the last step, i.e. not a checkpoint written only
    /// because checkpoint_minutes elapsed or the run was cancelled. Lets <see cref="ITrainingTask.OnCheckpoint"/> keep
    /// costly previews on a fixed step grid.
    /// </summary>
    public bool AtScheduledCheckpoint => Step % Config.CheckpointEvery == 0 || Step >= Config.TotalSteps;

    /// <summary>
    /// Opens <paramref name="runDirectory"/>. Without a complete checkpoint there the run starts fresh and (re)writes
    /// config.json; with one, the saved config.json is checked against <paramref name="config"/> and the task (only
    /// operational keys such as total_steps may differ; a <see cref="SonicException"/> names the differing keys) and
    /// training resumes from the latest checkpoint.
    /// </summary>
    public Trainer(ITrainingTask task, TrainingConfig config, string runDirectory)
    {
        _task = task;
        Config = config.Validate("training config");
        RunDirectory = Path.GetFullPath(runDirectory);
        _groups = task.ParameterGroups;
        ParameterGroup.Validate(_groups);
        _params = _groups.SelectMany(g => g.Parameters).ToList();

        Directory.CreateDirectory(RunDirectory);
        var runConfig = RunConfig();
        string configPath = Path.Combine(RunDirectory, ConfigFile);
        TrainingCheckpoint.RemoveIncomplete(CheckpointsDirectory);
        var latest = TrainingCheckpoint.Latest(CheckpointsDirectory);
        if (latest != null)
        {
            if (!File.Exists(configPath)) throw new SonicException($"{configPath}: missing, but the folder holds checkpoints (cannot check the run's settings)");
            CheckCompatible(configPath, runConfig);
        }
        TrainingCheckpoint.WriteDurable(configPath, System.Text.Encoding.UTF8.GetBytes(runConfig.ToJsonString(ConfigJson.Options)));

        Optimizer = new AdamWOptimizer(_groups.Select(g => (g, g.Lr(Config), g.Wd(Config))), Config.Beta1, Config.Beta2, Config.Eps);
        Ema = Config.EmaDecay is { } d ? new EmaModel(_params, d, Config.EmaWarmup) : null;
        Data = new DataOrder(task.DatasetSize, Config.BatchSize, Config.Seed, Config.DropLast);
        Generator = new Generator(unchecked((ulong)Config.Seed * 0x9E3779B97F4A7C15UL + 0x2545F4914F6CDD1DUL), torch.CPU);
        torch.random.manual_seed(Config.Seed);

        _metrics = new MetricsLog(Path.Combine(RunDirectory, MetricsFile));
        if (latest is { } l)
        {
            Load(l.Path);
            ResumedFromStep = Step;
            LastCheckpoint = l.Path;
            _lastCheckpointStep = Step;
        }
        _lastCheckpointElapsed = _elapsedBase;
        _metrics.TruncateAfter(Step);
    }

    private JsonObject RunConfig()
    {
        var groups = new JsonArray();
        foreach (var g in _groups)
            groups.Add(new JsonObject
            {
                ["name"] = g.Name,
                ["learning_rate"] = g.Lr(Config),
                ["weight_decay"] = g.Wd(Config),
                ["parameters"] = new JsonArray(g.Parameters.Select(p => (JsonNode)$"{p.Name} [{string.Join(",", p.Parameter.shape)}] {p.Parameter.dtype}").ToArray()),
            });
        return new JsonObject
        {
            ["format"] = Format,
            ["training"] = Config.ToJson(),
            ["task"] = _task.Config?.DeepClone() ?? new JsonObject(),
            ["dataset_size"] = _task.DatasetSize,
            ["parameter_groups"] = groups,
        };
    }

    private static void CheckCompatible(string path, JsonObject current)
    {
        JsonObject saved;
        try { saved = JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new SonicException($"{path}: empty run config"); }
        catch (JsonException e) { throw new SonicException($"{path}: invalid run config ({e.Message.Split('\n')[0]})"); }
        var diffs = new List<string>();
        foreach (var k in TrainingConfig.Differences(saved, current, new HashSet<string> { "training" }))
            diffs.Add($"{k} (saved {Show(saved[k])}, now {Show(current[k])})");
        if (saved["training"] is JsonObject st && current["training"] is JsonObject ct)
            foreach (var k in TrainingConfig.Differences(st, ct, TrainingConfig.OperationalKeys))
                diffs.Add($"training.{k} (saved {Show(st[k])}, now {Show(ct[k])})");
        else diffs.Add("training (missing)");
        if (diffs.Count > 0)
            throw new SonicException($"{path}: cannot resume this run with a different config: {string.Join("; ", diffs)} (use a new run folder, or restore the saved settings)");
    }

    private static string Show(JsonNode? n)
    {
        var s = n?.ToJsonString() ?? "none";
        return s.Length > 60 ? s[..57] + "..." : s;
    }

    /// <summary>
    /// Trains until <see cref="TrainingConfig.TotalSteps"/> or cancellation (which writes a checkpoint first). libtorch's
    /// oneDNN kernels are off meanwhile (<see cref="CpuKernels"/>: their convolution backward pass is wrong on some CPUs)
    /// and restored afterwards.
    /// </summary>
    public TrainingResult Run(IProgress<ProgressInfo>? progress = null, CancellationToken cancellationToken = default)
    {
        CpuKernels.Configure();
        using var oneDnnOff = CpuKernels.OneDnnOff();
        return RunSteps(progress, cancellationToken);
    }

    private TrainingResult RunSteps(IProgress<ProgressInfo>? progress, CancellationToken cancellationToken)
    {
        long total = Config.TotalSteps;
        double? lastLoss = _metrics.Entries.Count > 0 ? _metrics.Entries[^1].Loss : null;
        double secPerStep = double.NaN;
        long stepsSinceLog = 0;
        var sinceLog = Stopwatch.StartNew();
        _clock.Start();
        try
        {
            while (Step < total)
            {
                if (cancellationToken.IsCancellationRequested) break;
                var stepClock = Stopwatch.StartNew();
                var (loss, parts, gradNorm, lrs) = TrainStep(total);
                Step++;
                lastLoss = loss;
                stepsSinceLog++;

                if (Step % Config.LogEvery == 0 || Step == total)
                {
                    double itps = stepsSinceLog / Math.Max(1e-9, sinceLog.Elapsed.TotalSeconds);
                    _metrics.Append(new MetricsEntry(Step, Data.Epoch, loss, parts, lrs, gradNorm, itps, ElapsedSeconds));
                    stepsSinceLog = 0;
                    sinceLog.Restart();
                }
                bool timeDue = Config.CheckpointMinutes is { } m && ElapsedSeconds - _lastCheckpointElapsed >= m * 60;
                if (Step % Config.CheckpointEvery == 0 || Step == total || timeDue) SaveCheckpoint();

                double dt = stepClock.Elapsed.TotalSeconds;
                secPerStep = double.IsNaN(secPerStep) ? dt : 0.9 * secPerStep + 0.1 * dt;
                progress?.Report(new ProgressInfo("train", (int)Math.Min(int.MaxValue, Step), (int)Math.Min(int.MaxValue, total),
                    Describe(loss, secPerStep, total - Step)));
            }
            bool cancelled = Step < total;
            if (cancelled && _lastCheckpointStep != Step) SaveCheckpoint();
            return new TrainingResult(Step, total, cancelled, ResumedFromStep, lastLoss, LastCheckpoint);
        }
        finally { _clock.Stop(); }
    }

    private static string Describe(double loss, double secPerStep, long left)
    {
        double itps = 1.0 / Math.Max(1e-9, secPerStep);
        var eta = TimeSpan.FromSeconds(Math.Min(secPerStep * left, TimeSpan.MaxValue.TotalSeconds / 2));
        string etaText = eta.TotalHours >= 1 ? $"{(int)eta.TotalHours}:{eta:mm\\:ss}" : eta.ToString("mm\\:ss", CultureInfo.InvariantCulture);
        return string.Create(CultureInfo.InvariantCulture, $"loss {loss:G5} · {itps:F2} it/s · ETA {etaText}");
    }

    private (double Loss, Dictionary<string, double> Parts, double GradNorm, Dictionary<string, double> Lr) TrainStep(long total)
    {
        using var scope = torch.NewDisposeScope();
        using var grad = torch.enable_grad();
        var batch = new TrainingBatch(Step, Data.Epoch, Data.Next(), Generator);
        var result = _task.ComputeLoss(batch);
        var lossT = result.Total;
        if (lossT.numel() != 1) throw new SonicException($"training step {Step}: the task's loss has shape [{string.Join(",", lossT.shape)}], expected a scalar");
        if (!lossT.requires_grad) throw new SonicException($"training step {Step}: the task's loss does not require grad (no trainable parameter contributes to it)");
        double loss = lossT.item<float>();
        if (!double.IsFinite(loss)) throw new SonicException($"training step {Step}: loss is {loss.ToString(CultureInfo.InvariantCulture)} (diverged; lower the learning rate or resume from an earlier checkpoint)");
        var parts = new Dictionary<string, double>(StringComparer.Ordinal);
        if (result.Parts != null)
            foreach (var (k, v) in result.Parts) parts[k] = v.detach().to_type(ScalarType.Float64).item<double>();

        lossT.backward();
        double gradNorm = GradientClipper.ClipGlobalNorm(_params.Select(p => p.Param), Config.MaxGradNorm);
        double factor = Config.LrSchedule.Factor(Step, total);
        Optimizer.Step(factor);
        Optimizer.ZeroGrad();
        Ema?.Update();
        var lrs = _groups.ToDictionary(g => g.Name, g => g.Lr(Config) * factor, StringComparer.Ordinal);
        return (loss, parts, gradNorm, lrs);
    }

    /// <summary>Writes a checkpoint of the current step, prunes old ones, refreshes loss.png and calls the task's hook.</summary>
    public string SaveCheckpoint()
    {
        string path;
        using (var scope = torch.NewDisposeScope())
        {
            var files = new Dictionary<string, IEnumerable<(string, Tensor)>>
            {
                ["model"] = _params.Select(p => (p.Name, (Tensor)p.Param)),
                ["optimizer"] = Optimizer.StateTensors(),
                ["rng"] = [("torch_default", torch.random.get_rng_state()), ("generator", Generator.get_state())],
            };
            if (Ema != null) files["ema"] = Ema.StateTensors();
            var buffers = _task.StateBuffers.ToList();
            if (buffers.Count > 0) files["buffers"] = buffers;
            var state = new JsonObject
            {
                ["format"] = Format,
                ["step"] = Step,
                ["epoch"] = Data.Epoch,
                ["position"] = Data.Position,
                ["elapsed_seconds"] = ElapsedSeconds,
                ["ema_updates"] = Ema?.Updates,
                ["last_loss"] = _metrics.Entries.Count > 0 && double.IsFinite(_metrics.Entries[^1].Loss) ? JsonValue.Create(_metrics.Entries[^1].Loss) : null,
                ["torch"] = torch.__version__,
                ["saved_utc"] = DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture),
            };
            path = TrainingCheckpoint.Write(CheckpointsDirectory, Step, files, state);
        }
        LastCheckpoint = path;
        _lastCheckpointStep = Step;
        _lastCheckpointElapsed = ElapsedSeconds;
        TrainingCheckpoint.Prune(CheckpointsDirectory, Config.KeepLast);
        if (Config.PlotLoss) LossPlot.Write(Path.Combine(RunDirectory, PlotFile), _metrics.Entries);

        using (var scope = torch.NewDisposeScope())
        {
            var globalRng = torch.random.get_rng_state();
            var genRng = Generator.get_state();
            try { _task.OnCheckpoint(this, path); }
            finally
            {
                torch.random.set_rng_state(globalRng);
                Generator.set_state(genRng);
            }
        }
        return path;
    }

    private void Load(string dir)
    {
        var state = TrainingCheckpoint.ReadState(dir);
        string statePath = Path.Combine(dir, TrainingCheckpoint.StateFile);
        long Long(string key) => state[key]?.GetValue<long>() ?? throw new SonicException($"{statePath}: '{key}' is missing");

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        using (var model = Open(dir, "model"))
            foreach (var (name, p) in _params) AdamWOptimizer.CopyChecked(Reader(model), name, p, model.Path);
        using (var opt = Open(dir, "optimizer")) Optimizer.LoadState(Reader(opt), opt.Path);
        if (Ema != null)
            using (var ema = Open(dir, "ema")) Ema.LoadState(Reader(ema), Long("ema_updates"), ema.Path);
        var buffers = _task.StateBuffers.ToList();
        if (buffers.Count > 0)
            using (var buf = Open(dir, "buffers"))
                foreach (var (name, b) in buffers) AdamWOptimizer.CopyChecked(Reader(buf), name, b, buf.Path);
        using (var rng = Open(dir, "rng"))
        {
            torch.random.set_rng_state(rng.Read("torch_default"));
            Generator.set_state(rng.Read("generator"));
        }
        Data.Restore(Long("epoch"), Long("position"));
        Step = Long("step");
        _elapsedBase = state["elapsed_seconds"]?.GetValue<double>() ?? 0;
    }

    private static SafetensorsFile Open(string dir, string key)
    {
        string p = Path.Combine(dir, key + ".safetensors");
        if (!File.Exists(p)) throw new SonicException($"{p}: checkpoint file is missing (the run's config asks for it)");
        return SafetensorsFile.Open(p);
    }

    private static Func<string, Tensor?> Reader(SafetensorsFile f) => name => f.Contains(name) ? f.Read(name) : null;

    /// <summary>Writes the trainable weights (the EMA weights when <paramref name="useEma"/> and EMA is on) to a safetensors file.</summary>
    public void ExportWeights(string path, bool useEma = true)
    {
        using var swap = useEma && Ema != null ? Ema.SwapIn() : null;
        TrainingCheckpoint.WriteSafetensors(path, _params.Select(p => (p.Name, (Tensor)p.Param)));
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        Ema?.Dispose();
        Generator.Dispose();
    }
}
