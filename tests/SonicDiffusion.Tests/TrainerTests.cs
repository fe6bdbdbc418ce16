using System.Diagnostics;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Tests.Infrastructure;
using SonicDiffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>The trainer tests touch torch's process-wide default generator, so nothing else may run beside them.</summary>
[CollectionDefinition(nameof(TrainerTests), DisableParallelization = true)]
public sealed class TrainerCollection;

/// <summary>
/// Engine tests on <see cref="TinyTrainingTask"/>. They run torch single-threaded (restored afterwards): on a loaded
/// 2-core machine OpenMP spinning makes tiny ops many times slower, and the child process is given the same setting.
/// </summary>
[Collection(nameof(TrainerTests))]
public class TrainerTests : IDisposable
{
    private readonly int _threads = torch.get_num_threads();

    public TrainerTests() => torch.set_num_threads(1);

    public void Dispose()
    {
        torch.set_num_threads(_threads);
        GC.SuppressFinalize(this);
    }

    private static readonly string[] StateFiles = ["model", "optimizer", "ema", "buffers", "rng"];

    private sealed class SyncProgress(Action<ProgressInfo> onReport) : IProgress<ProgressInfo>
    {
        public void Report(ProgressInfo value) => onReport(value);
    }

    private static TrainingResult Train(string dir, TrainingConfig config, Action<TinyTrainingTask>? setup = null, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default)
    {
        using var task = new TinyTrainingTask();
        setup?.Invoke(task);
        using var trainer = new Trainer(task, config, dir);
        return trainer.Run(progress, ct);
    }

    private static string Ckpt(string runDir, long step) => Path.Combine(runDir, Trainer.CheckpointsFolder, TrainingCheckpoint.FolderName(step));

    /// <summary>Both runs' checkpoints at <paramref name="step"/> hold byte-identical tensors and the same data position.</summary>
    private static void AssertSameCheckpoint(string runA, string runB, long step)
    {
        foreach (var f in StateFiles)
        {
            var a = File.ReadAllBytes(Path.Combine(Ckpt(runA, step), f + ".safetensors"));
            var b = File.ReadAllBytes(Path.Combine(Ckpt(runB, step), f + ".safetensors"));
            Assert.True(a.AsSpan().SequenceEqual(b), $"{f}.safetensors differs at step {step}");
        }
        var sa = TrainingCheckpoint.ReadState(Ckpt(runA, step));
        var sb = TrainingCheckpoint.ReadState(Ckpt(runB, step));
        foreach (var k in new[] { "step", "epoch", "position", "ema_updates" })
            Assert.Equal(sa[k]!.GetValue<long>(), sb[k]!.GetValue<long>());
    }

    /// <summary>Same logged steps with bit-identical loss, parts, lr and grad norm.</summary>
    private static void AssertSameMetrics(string runA, string runB)
    {
        var a = MetricsLog.Read(Path.Combine(runA, Trainer.MetricsFile));
        var b = MetricsLog.Read(Path.Combine(runB, Trainer.MetricsFile));
        Assert.Equal(a.Select(e => e.Step), b.Select(e => e.Step));
        for (int i = 0; i < a.Count; i++)
        {
            Assert.Equal(a[i].Epoch, b[i].Epoch);
            Assert.Equal(a[i].Loss, b[i].Loss);
            Assert.Equal(a[i].GradNorm, b[i].GradNorm);
            Assert.Equal(a[i].Parts, b[i].Parts);
            Assert.Equal(a[i].Lr, b[i].Lr);
        }
        Assert.True(b.Zip(b.Skip(1)).All(p => p.Second.ElapsedSeconds >= p.First.ElapsedSeconds), "elapsed time must continue across a resume");
    }

    [Fact]
    public void LossDecreasesOnTinyRegression()
    {
        using var dir = RepoPaths.NewTemp();
        var config = TinyTrainingTask.DefaultConfig(240) with { CheckpointEvery = 120, PlotLoss = true };
        var progress = new List<ProgressInfo>();
        var result = Train(dir.Path, config, progress: new SyncProgress(progress.Add));

        Assert.Equal(240, result.Step);
        Assert.False(result.Cancelled);
        var m = MetricsLog.Read(Path.Combine(dir.Path, Trainer.MetricsFile));
        Assert.Equal(Enumerable.Range(1, 240).Select(i => (long)i), m.Select(e => e.Step));
        double first = m.Take(20).Average(e => e.Parts["mse"]), last = m.TakeLast(20).Average(e => e.Parts["mse"]);
        Assert.True(last < 0.5 * first, $"mse did not decrease enough: first 20 steps {first:G4}, last 20 {last:G4}");
        Assert.All(m, e => Assert.True(e.GradNorm > 0 && e.ItPerSec > 0 && e.ElapsedSeconds > 0));
        Assert.Equal(240 / 8 - 1, m[^1].Epoch); // 64 samples / batch 8 = 8 steps per epoch

        Assert.Equal(240, progress.Count);
        Assert.Equal(new ProgressInfo("train", 240, 240, progress[^1].Detail), progress[^1]);
        Assert.Matches(@"^loss [0-9.eE+-]+ · [0-9.]+ it/s · ETA \d\d:\d\d$", progress[5].Detail!);

        var png = File.ReadAllBytes(Path.Combine(dir.Path, Trainer.PlotFile));
        Assert.True(png.Length > 1000 && png[1] == 'P' && png[2] == 'N' && png[3] == 'G', "loss.png is not a PNG");
        Assert.True(File.Exists(Path.Combine(dir.Path, Trainer.ConfigFile)));
    }

    [Fact]
    public void CrashedRunResumesBitIdenticalToUninterruptedRun()
    {
        using var full = RepoPaths.NewTemp();
        using var crashed = RepoPaths.NewTemp();
        var config = TinyTrainingTask.DefaultConfig(40);
        Train(full.Path, config);

        // Step 23 throws after checkpoint 21 and after metrics lines 22 and 23 were written: nothing is shut down cleanly.
        var ex = Assert.Throws<InvalidOperationException>(() => Train(crashed.Path, config, t => t.CrashAtStep = 23));
        Assert.Contains("simulated crash", ex.Message);
        Assert.Equal(23, MetricsLog.Read(Path.Combine(crashed.Path, Trainer.MetricsFile)).Count);
        Assert.Equal(21, TrainingCheckpoint.Latest(Path.Combine(crashed.Path, Trainer.CheckpointsFolder))!.Value.Step);

        var seen = new List<long>();
        var result = Train(crashed.Path, config, t => t.OnBatch = b => seen.Add(b.Step));
        Assert.Equal(21, result.ResumedFromStep);
        Assert.Equal(Enumerable.Range(21, 19).Select(i => (long)i), seen);
        Assert.Equal(40, result.Step);

        AssertSameCheckpoint(full.Path, crashed.Path, 40);
        AssertSameMetrics(full.Path, crashed.Path);
    }

    [Fact]
    public void KilledChildProcessResumesBitIdentical()
    {
        const long total = 200;
        using var reference = RepoPaths.NewTemp();
        using var killed = RepoPaths.NewTemp();
        var config = TinyTrainingTask.DefaultConfig(total) with { CheckpointEvery = 1000 };
        Train(reference.Path, config);

        // The child checkpoints every step (keep 2), so a kill often lands inside a checkpoint write.
        string dll = typeof(TrainerTests).Assembly.Location;
        string dotnet = Environment.ProcessPath is { } pp && Path.GetFileNameWithoutExtension(pp) == "dotnet" ? pp : "dotnet";
        var psi = new ProcessStartInfo(dotnet) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.Environment["OMP_NUM_THREADS"] = "1";
        foreach (var a in new[] { dll, "trainer-child", killed.Path, total.ToString(), "1" }) psi.ArgumentList.Add(a);
        using var child = Process.Start(psi)!;
        var stderr = new System.Text.StringBuilder();
        child.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
        child.OutputDataReceived += (_, _) => { };
        child.BeginErrorReadLine(); // drained as it comes, so a chatty child never blocks on a full pipe
        child.BeginOutputReadLine();
        string metrics = Path.Combine(killed.Path, Trainer.MetricsFile);
        var wait = Stopwatch.StartNew();
        int killAfter = 15 + Random.Shared.Next(20), seen = 0;
        while (!child.HasExited && wait.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (File.Exists(metrics) && (seen = MetricsLog.Read(metrics).Count) >= killAfter) break;
            Thread.Sleep(2);
        }
        if (child.HasExited) Assert.Fail($"child exited before the kill (code {child.ExitCode}, {seen} lines seen): {stderr}");
        child.Kill(); // SIGKILL
        child.WaitForExit();
        var latest = TrainingCheckpoint.Latest(Path.Combine(killed.Path, Trainer.CheckpointsFolder));
        Assert.NotNull(latest);
        Assert.True(latest.Value.Step >= killAfter - 1 && latest.Value.Step < total,
            $"latest checkpoint {latest.Value.Step}, kill after {killAfter} lines, child exit code {child.ExitCode}");
        Assert.Equal(137, child.ExitCode);

        var result = Train(killed.Path, config);
        Assert.Equal(latest.Value.Step, result.ResumedFromStep);
        Assert.Equal(total, result.Step);
        AssertSameCheckpoint(reference.Path, killed.Path, total);
        AssertSameMetrics(reference.Path, killed.Path);
        Assert.Empty(Directory.GetDirectories(Path.Combine(killed.Path, Trainer.CheckpointsFolder), ".tmp-*"));
    }

    [Fact]
    public void ResumeMayChangeTotalStepsButNotTheMath()
    {
        using var full = RepoPaths.NewTemp();
        using var staged = RepoPaths.NewTemp();
        var config = TinyTrainingTask.DefaultConfig(30) with { LrSchedule = new LrSchedule { WarmupSteps = 4 } };
        Train(full.Path, config);
        Assert.Equal(20, Train(staged.Path, config with { TotalSteps = 20 }).Step);

        var ex = Assert.Throws<SonicException>(() => Train(staged.Path, config with { LearningRate = 1e-3 }));
        Assert.Contains("training.learning_rate (saved 0.03, now 0.001)", ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
        ex = Assert.Throws<SonicException>(() =>
        {
            using var other = new TinyTrainingTask(datasetSize: 48);
            using var t = new Trainer(other, config, staged.Path);
        });
        Assert.Contains("dataset_size", ex.Message);

        // A folder whose run died before its first checkpoint has nothing to resume: any config starts afresh.
        using (var early = RepoPaths.NewTemp())
        {
            Assert.Throws<InvalidOperationException>(() => Train(early.Path, config with { TotalSteps = 3, CheckpointEvery = 100 }, t => t.CrashAtStep = 2));
            using var task = new TinyTrainingTask();
            using var fresh = new Trainer(task, config with { LearningRate = 1e-3 }, early.Path);
            Assert.Equal(-1, fresh.ResumedFromStep);
            Assert.Empty(fresh.Metrics);
        }

        var result = Train(staged.Path, config with { KeepLast = 5, CheckpointEvery = 3 });
        Assert.Equal(20, result.ResumedFromStep);
        Assert.Equal(30, result.Step);
        AssertSameCheckpoint(full.Path, staged.Path, 30);
        AssertSameMetrics(full.Path, staged.Path);
    }

    [Fact]
    public void KeepsOnlyTheLastKCheckpointsAndCleansTornWrites()
    {
        using var dir = RepoPaths.NewTemp();
        string ckpts = Path.Combine(dir.Path, Trainer.CheckpointsFolder);
        Train(dir.Path, TinyTrainingTask.DefaultConfig(20) with { CheckpointEvery = 3, KeepLast = 2 });
        Assert.Equal(new[] { 18L, 20L }, TrainingCheckpoint.List(ckpts).Select(c => c.Step));

        // A torn write (temporary folder) and a folder without state.json are never taken for checkpoints.
        Directory.CreateDirectory(Path.Combine(ckpts, ".tmp-" + TrainingCheckpoint.FolderName(21) + "-dead"));
        File.WriteAllText(Path.Combine(ckpts, ".tmp-" + TrainingCheckpoint.FolderName(21) + "-dead", "model.safetensors"), "torn");
        Directory.CreateDirectory(Path.Combine(ckpts, TrainingCheckpoint.FolderName(22)));
        var result = Train(dir.Path, TinyTrainingTask.DefaultConfig(24) with { CheckpointEvery = 3, KeepLast = 2 });
        Assert.Equal(20, result.ResumedFromStep);
        Assert.Empty(Directory.GetDirectories(ckpts, ".tmp-*"));
        Assert.Equal(new[] { 21L, 24L }, TrainingCheckpoint.List(ckpts).Select(c => c.Step));
    }

    [Fact]
    public void FrozenParametersStayBitIdenticalWhileTrainableOnesChange()
    {
        using var dir = RepoPaths.NewTemp();
        using var task = new TinyTrainingTask(freezeEncoder: true);
        var before = WeightFingerprint.Of(task.Model);
        Assert.DoesNotContain(task.ParameterGroups.SelectMany(g => g.Parameters), p => p.Name.Contains("encoder"));
        using (var trainer = new Trainer(task, TinyTrainingTask.DefaultConfig(25), dir.Path)) trainer.Run();

        var changed = WeightFingerprint.Changed(before, WeightFingerprint.Of(task.Model));
        Assert.DoesNotContain(changed, n => n.StartsWith("encoder.", StringComparison.Ordinal));
        foreach (var n in new[] { "hidden.weight", "hidden.bias", "norm.weight", "norm.bias", "head.weight", "head.bias", "norm.running_mean" })
            Assert.Contains(n, changed);
        Assert.Null(task.Model.encoder.weight!.grad);
        Assert.False(task.Model.encoder.weight!.requires_grad);

        using var unfrozen = new TinyTrainingTask(freezeEncoder: false);
        var frozenParam = unfrozen.Model.encoder.weight!;
        frozenParam.requires_grad = false;
        var bad = new[] { new ParameterGroup("all", [("encoder.weight", frozenParam)]) };
        var ex = Assert.Throws<SonicException>(() => ParameterGroup.Validate(bad));
        Assert.Contains("'encoder.weight'", ex.Message);
        Assert.Contains("frozen", ex.Message);
    }

    [Fact]
    public void EmaMatchesHandComputation()
    {
        Assert.Equal(0.1, EmaModel.DecayAt(0, 0.99, true));
        Assert.Equal(0.5, EmaModel.DecayAt(8, 0.99, true));
        Assert.Equal(0.99, EmaModel.DecayAt(10_000, 0.99, true));
        Assert.Equal(0.99, EmaModel.DecayAt(0, 0.99, false));

        using var dir = RepoPaths.NewTemp();
        using var task = new TinyTrainingTask();
        const double maxDecay = 0.6;
        var config = TinyTrainingTask.DefaultConfig(12) with { EmaDecay = maxDecay, CheckpointEvery = 100 };
        using var trainer = new Trainer(task, config, dir.Path);
        var w = task.Model.head.weight!;
        double[] shadow = w.data<float>().ToArray().Select(v => (double)v).ToArray();
        trainer.Run(new SyncProgress(p =>
        {
            double d = Math.Min(maxDecay, (1.0 + p.Step - 1) / (10.0 + p.Step - 1));
            var cur = w.data<float>().ToArray();
            for (int i = 0; i < shadow.Length; i++) shadow[i] = d * shadow[i] + (1 - d) * cur[i];
        }));
        Assert.Equal(12, trainer.Ema!.Updates);

        var trained = w.detach().clone();
        using (trainer.Ema.SwapIn())
        {
            var ema = w.data<float>().ToArray();
            for (int i = 0; i < shadow.Length; i++) Assert.True(Math.Abs(ema[i] - shadow[i]) < 1e-6, $"ema[{i}] = {ema[i]}, hand {shadow[i]}");
            Assert.False(w.equal(trained).all().item<bool>());
        }
        Assert.True(w.equal(trained).all().item<bool>(), "SwapIn must restore the trained weights exactly");

        string export = Path.Combine(dir.Path, "ema.safetensors");
        trainer.ExportWeights(export);
        using var f = SafetensorsFile.Open(export);
        using var exported = f.Read("tiny.head.weight");
        Assert.True(exported.allclose(torch.tensor(shadow.Select(v => (float)v).ToArray()).reshape(w.shape), rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void LrScheduleValues()
    {
        var constant = new LrSchedule { Kind = LrSchedule.Constant, WarmupSteps = 10 };
        Assert.Equal(0.1, constant.Factor(0, 100), 12);
        Assert.Equal(0.5, constant.Factor(4, 100), 12);
        Assert.Equal(1.0, constant.Factor(9, 100), 12);
        Assert.Equal(1.0, constant.Factor(500, 100), 12);

        var cosine = new LrSchedule { Kind = LrSchedule.Cosine, WarmupSteps = 10, MinLrRatio = 0.1 };
        Assert.Equal(0.3, cosine.Factor(2, 110), 12);
        Assert.Equal(1.0, cosine.Factor(10, 110), 12);
        Assert.Equal(0.55, cosine.Factor(60, 110), 12);
        Assert.Equal(0.1 + 0.9 * 0.5 * (1 + Math.Cos(Math.PI * 0.25)), cosine.Factor(35, 110), 12);
        Assert.Equal(0.1, cosine.Factor(110, 110), 12);
        Assert.Equal(1.0, new LrSchedule { Kind = LrSchedule.Cosine }.Factor(0, 50), 12);
        Assert.Throws<SonicException>(() => new LrSchedule { Kind = "linear" }.Validate("cfg"));

        // The metrics log the lr each update used.
        using var dir = RepoPaths.NewTemp();
        var config = TinyTrainingTask.DefaultConfig(20) with { LrSchedule = cosine with { WarmupSteps = 4 } };
        Train(dir.Path, config);
        var m = MetricsLog.Read(Path.Combine(dir.Path, Trainer.MetricsFile));
        for (int i = 0; i < m.Count; i++)
            Assert.Equal(config.LearningRate * config.LrSchedule.Factor(i, 20), m[i].Lr["body"], 15);
    }

    [Fact]
    public void ParameterGroupsUseTheirOwnLearningRate()
    {
        using var dir = RepoPaths.NewTemp();
        using var task = new TinyTrainingTask(headLearningRate: 1e-4, dropout: 0);
        var config = TinyTrainingTask.DefaultConfig(1) with
        {
            LearningRate = 1e-2, WeightDecay = 0, MaxGradNorm = null, EmaDecay = null, LrSchedule = new LrSchedule(),
        };
        var headBefore = task.Model.head.weight!.detach().clone();
        var hiddenBefore = task.Model.hidden.weight!.detach().clone();
        using (var trainer = new Trainer(task, config, dir.Path))
        {
            trainer.Run();
            Assert.Equal(1e-4, trainer.Optimizer.BaseLearningRate("head"));
            Assert.Equal(1e-2, trainer.Optimizer.BaseLearningRate("body"));
        }
        // AdamW's first update moves every element with a non-zero grad by lr·|g|/(|g|+eps) ≈ lr.
        double headStep = (task.Model.head.weight! - headBefore).abs().max().item<float>();
        double hiddenStep = (task.Model.hidden.weight! - hiddenBefore).abs().max().item<float>();
        Assert.InRange(headStep, 0.99e-4, 1.01e-4);
        Assert.InRange(hiddenStep, 0.99e-2, 1.01e-2);
        var m = MetricsLog.Read(Path.Combine(dir.Path, Trainer.MetricsFile));
        Assert.Equal(1e-4, m[0].Lr["head"]);
        Assert.Equal(1e-2, m[0].Lr["body"]);
    }

    [Fact]
    public void AdamWIsBitIdenticalToTorchSharpAdamW()
    {
        using var g = new Generator(99, torch.CPU);
        var a = new TorchSharp.Modules.Parameter(torch.randn([5, 3], generator: g));
        var b = new TorchSharp.Modules.Parameter(a.detach().clone());
        using var ours = new AdamWOptimizer([(new ParameterGroup("g", [("w", a)]), 0.05, 0.1)], 0.9, 0.98, 1e-6);
        using var theirs = torch.optim.AdamW([b], lr: 0.05, beta1: 0.9, beta2: 0.98, eps: 1e-6, weight_decay: 0.1);
        for (int step = 0; step < 6; step++)
        {
            var target = torch.randn([5, 3], generator: g);
            (a - target).pow(3).abs().sum().backward();
            (b - target).pow(3).abs().sum().backward();
            ours.Step(1.0);
            ours.ZeroGrad();
            theirs.step();
            theirs.zero_grad();
            Assert.True(a.equal(b).all().item<bool>(), $"differs after step {step + 1}");
        }
        Assert.Equal(6, ours.StepCount("w"));
    }

    [Fact]
    public void CancelWritesACheckpointAndStopsCleanly()
    {
        using var full = RepoPaths.NewTemp();
        using var dir = RepoPaths.NewTemp();
        var config = TinyTrainingTask.DefaultConfig(30) with { CheckpointEvery = 100 };
        Train(full.Path, config);

        using var cts = new CancellationTokenSource();
        var result = Train(dir.Path, config, progress: new SyncProgress(p => { if (p.Step == 11) cts.Cancel(); }), ct: cts.Token);
        Assert.True(result.Cancelled);
        Assert.Equal(11, result.Step);
        Assert.Equal(Ckpt(dir.Path, 11), result.LastCheckpoint);
        Assert.Equal(new[] { 11L }, TrainingCheckpoint.List(Path.Combine(dir.Path, Trainer.CheckpointsFolder)).Select(c => c.Step));

        var resumed = Train(dir.Path, config);
        Assert.Equal(11, resumed.ResumedFromStep);
        AssertSameCheckpoint(full.Path, dir.Path, 30);
        AssertSameMetrics(full.Path, dir.Path);
    }

    [Fact]
    public void StepsLeakNoTensors()
    {
        using var dir = RepoPaths.NewTemp();
        var live = new List<long>();
        Train(dir.Path, TinyTrainingTask.DefaultConfig(30) with { CheckpointEvery = 4 },
            progress: new SyncProgress(_ => live.Add(DisposeScopeManager.Statistics.ThreadTotalLiveCount)));
        Assert.Equal(30, live.Count);
        Assert.All(live, n => Assert.Equal(live[0], n));
    }

    [Fact]
    public void DataOrderIsSeededAndResumable()
    {
        var a = new DataOrder(10, 3, seed: 5);
        var seq = Enumerable.Range(0, 12).Select(_ => a.Next()).ToList();
        Assert.Equal(3, a.BatchesPerEpoch);
        Assert.All(seq, b => Assert.Equal(3, b.Length));
        for (int e = 0; e < 4; e++)
        {
            var epoch = seq.Skip(3 * e).Take(3).SelectMany(x => x).ToList();
            Assert.Equal(9, epoch.Distinct().Count());
            Assert.Equal(DataOrder.Permutation(10, 5, e).Take(9), epoch);
        }
        Assert.NotEqual(DataOrder.Permutation(10, 5, 0), DataOrder.Permutation(10, 5, 1));
        Assert.NotEqual(DataOrder.Permutation(10, 5, 0), DataOrder.Permutation(10, 6, 0));
        Assert.Equal(Enumerable.Range(0, 1000).Select(i => (long)i), DataOrder.Permutation(1000, 3, 7).Order());

        var b = new DataOrder(10, 3, seed: 5);
        b.Restore(2, 6);
        Assert.Equal(seq[8], b.Next());
        Assert.Equal(seq[9], b.Next());

        var keep = new DataOrder(10, 4, seed: 1, dropLast: false);
        Assert.Equal(new[] { 4, 4, 2 }, Enumerable.Range(0, 3).Select(_ => keep.Next().Length));
        keep.Next();
        Assert.Equal(1, keep.Epoch);
        Assert.Throws<SonicException>(() => new DataOrder(3, 4, 0));
    }
}
