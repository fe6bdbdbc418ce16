using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Schedulers;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

public class SchedulerTests(ITestOutputHelper output)
{
    private static readonly SchedulerConfig Sd = SchedulerConfig.StableDiffusionV1;

    private static ToyEpsModel DdimFixtureModel() => ToyEpsModel.FromJson(GoldenFixture.Get("ddim").Config["eps_model"]!);

    private static Tensor FixtureNoise() => GoldenFixture.Get("ddim").Cases.First(c => c.Op == "sample").Input("x_T");

    private static double MaxAbsDiff(Tensor a, Tensor b)
    {
        using var d = (a.to_type(ScalarType.Float64) - b.to_type(ScalarType.Float64)).abs().max();
        return d.item<double>();
    }

    // ---- timestep grids -------------------------------------------------------------------------------------------

    [Fact]
    public void PndmFiftyStepsRepeatsTheSecondTimestepAndMakes51Calls()
    {
        var pndm = new PndmScheduler(Sd);
        var expected = new List<int> { 981, 961 };
        for (int t = 961; t >= 1; t -= 20) expected.Add(t);
        Assert.Equal(expected, pndm.Timesteps(50));
        Assert.Equal(51, pndm.ModelCalls(50));

        using var scope = NewDisposeScope();
        var model = DdimFixtureModel();
        pndm.Sample(FixtureNoise(), 50, model.Fn);
        Assert.Equal(expected, model.CallTimesteps);
    }

    [Fact]
    public void DpmSolverDefaultsToLinspaceOverNPlusOnePoints()
    {
        var dpm = new DpmSolverMultistepScheduler(Sd);
        Assert.Equal("linspace", dpm.Spacing);
        // numpy: np.linspace(0, 999, N + 1).round()[::-1][:-1] (half to even: 499.5 -> 500, 549.45 -> 549)
        Assert.Equal(new[] { 999, 949, 899, 849, 799, 749, 699, 649, 599, 549, 500, 450, 400, 350, 300, 250, 200, 150, 100, 50 },
            dpm.Timesteps(20));
        var fifty = dpm.Timesteps(50);
        Assert.Equal(50, fifty.Count);
        Assert.Equal(new[] { 999, 979, 959 }, fifty.Take(3));
        Assert.Equal(new[] { 519, 500, 480 }, fifty.Skip(24).Take(3));
        Assert.Equal(new[] { 60, 40, 20 }, fifty.TakeLast(3));
    }

    [Fact]
    public void DdimSpacingsMatchNumpy()
    {
        Assert.Equal(Enumerable.Range(0, 50).Select(k => 981 - 20 * k), new DdimScheduler(Sd).Timesteps(50));
        // np.linspace(0, 999, 30).round()[::-1]
        Assert.Equal(new[] { 999, 965, 930, 896, 861, 827, 792, 758, 723, 689, 655, 620, 586, 551, 517, 482, 448, 413, 379, 344, 310, 276, 241, 207, 172, 138, 103, 69, 34, 0 },
            new DdimScheduler(Sd with { TimestepSpacing = "linspace" }).Timesteps(30));
        // np.round(np.arange(1000, 0, -1000 / 30)) - 1
        Assert.Equal(new[] { 999, 966, 932, 899, 866, 832, 799, 766, 732, 699, 666, 632, 599, 566, 532, 499, 466, 432, 399, 366, 332, 299, 266, 232, 199, 166, 132, 99, 66, 32 },
            new DdimScheduler(Sd with { TimestepSpacing = "trailing" }).Timesteps(30));
    }

    [Fact]
    public void StepCountsOutsideTheTrainingRangeAreUserErrors()
    {
        var ddim = new DdimScheduler(Sd);
        Assert.Throws<SonicException>(() => ddim.Timesteps(0));
        Assert.Throws<SonicException>(() => ddim.Timesteps(1001));
        var e = Assert.Throws<SonicException>(() => ddim.Timesteps(1000)); // leading + steps_offset 1 reaches t = 1000
        Assert.Contains("1000", e.Message);
        Assert.Equal(1000, new DdimScheduler(Sd with { SetAlphaToOne = true, TimestepSpacing = "trailing" }).Timesteps(1000).Count);
    }

    // ---- schedule ---------------------------------------------------------------------------------------------------

    [Fact]
    public void NoiseScheduleMatchesTheSpecTable()
    {
        var s = new NoiseSchedule(Sd);
        // sd-architecture.md §4.1 (float64 values, 6 significant digits)
        var table = new (int T, double Ac, double Sqrt, double Sqrt1m)[]
        {
            (0, 0.99915, 0.999575, 0.029155), (1, 0.998296, 0.999148, 0.041279), (21, 0.980381, 0.990142, 0.140069),
            (261, 0.655669, 0.809734, 0.586797), (501, 0.274999, 0.524404, 0.851470), (981, 0.005776, 0.075997, 0.997108),
            (999, 0.004660, 0.068265, 0.997667),
        };
        foreach (var (t, ac, sq, sq1m) in table)
        {
            Assert.Equal(ac, s.AlphaCumprod(t), 6);
            Assert.Equal(sq, Math.Sqrt(s.AlphaCumprod(t)), 6);
            Assert.Equal(sq1m, Math.Sqrt(1 - s.AlphaCumprod(t)), 6);
        }
        Assert.Equal(0.00085, s.Betas[0], 12);
        Assert.Equal(0.012, s.Betas[999], 12);
        Assert.Equal(0.99915, new DdimScheduler(Sd).FinalAlphaCumprod, 12);
        Assert.Equal(1.0, new DdimScheduler(Sd with { SetAlphaToOne = null }).FinalAlphaCumprod); // DDIM class default true
        Assert.Equal(0.99915, new PndmScheduler(Sd with { SetAlphaToOne = null }).FinalAlphaCumprod, 12); // PNDM class default false
    }

    [Fact]
    public void AddNoiseUsesEachItemsTimestep()
    {
        using var scope = NewDisposeScope();
        var s = new NoiseSchedule(Sd);
        var gen = new Generator(7);
        var x0 = randn(new long[] { 3, 4, 8, 8 }, generator: gen);
        var eps = randn(new long[] { 3, 4, 8, 8 }, generator: gen);
        var ts = tensor(new long[] { 0, 500, 999 });
        var xt = s.AddNoise(x0, eps, ts);
        var v = s.Velocity(x0, eps, ts);
        for (int b = 0; b < 3; b++)
        {
            int t = (int)ts[b].item<long>();
            double a = s.AlphaCumprod(t);
            Assert.True(MaxAbsDiff(xt[b], x0[b] * Math.Sqrt(a) + eps[b] * Math.Sqrt(1 - a)) < 1e-6);
            Assert.True(MaxAbsDiff(v[b], eps[b] * Math.Sqrt(a) - x0[b] * Math.Sqrt(1 - a)) < 1e-6);
            Assert.True(MaxAbsDiff(s.AddNoise(x0[b], eps[b], t), xt[b]) < 1e-6);
        }
        Assert.Equal(ScalarType.Float32, xt.dtype);
    }

    [Fact]
    public void OtherBetaSchedules()
    {
        var lin = new NoiseSchedule(new SchedulerConfig());
        Assert.Equal(0.0001, lin.Betas[0], 12);
        Assert.Equal(0.02, lin.Betas[999], 12);
        var cos = new NoiseSchedule(new SchedulerConfig { BetaSchedule = "squaredcos_cap_v2" });
        Assert.Equal(0.999, cos.Betas[999], 12); // capped
        Assert.True(cos.AlphasCumprod.Zip(cos.AlphasCumprod.Skip(1)).All(p => p.Second < p.First));
        var trained = new NoiseSchedule(new SchedulerConfig { NumTrainTimesteps = 4, TrainedBetas = [0.1, 0.2, 0.3, 0.4] });
        Assert.Equal(0.9 * 0.8 * 0.7 * 0.6, trained.AlphasCumprod[3], 12);
        Assert.Throws<SonicException>(() => new NoiseSchedule(new SchedulerConfig { BetaSchedule = "cubic" }));
    }

    // ---- reference parity (diffusers re-statement) -----------------------------------------------------------------

    private static readonly Lazy<JsonObject> Reference = new(() =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Fixtures, "schedulers", "reference.json")))!.AsObject());

    public static TheoryData<string> ReferenceCases()
    {
        var data = new TheoryData<string>();
        foreach (var c in Reference.Value["cases"]!.AsArray()) data.Add((string)c!["name"]!);
        return data;
    }

    /// <summary>tests/fixtures/schedulers/reference.json: diffusers' scheduler logic re-stated in torch float32 (gen_reference.py).</summary>
    [Theory]
    [MemberData(nameof(ReferenceCases))]
    public void MatchesDiffusersRestatement(string name)
    {
        var root = Reference.Value;
        var c = root["cases"]!.AsArray().Single(x => (string)x!["name"]! == name)!.AsObject();
        var sched = SchedulerFactory.FromConfig(SchedulerConfig.Parse(c["config"]!.ToJsonString(), $"reference.json {name}"));
        int steps = (int)c["steps"]!;
        var model = ToyEpsModel.FromJson(root["eps_model"]!);
        using var scope = NewDisposeScope();
        var shape = root["x_T"]!["shape"]!.AsArray().Select(v => (long)v!).ToArray();
        var xT = tensor(root["x_T"]!["data"]!.AsArray().Select(v => (float)v!).ToArray()).reshape(shape);
        var latents = new List<Tensor> { xT };
        sched.Sample(xT, steps, model.Fn, (i, n, t, x) => latents.Add(x.clone()));

        var expectedTs = c["timesteps"]!.AsArray().Select(v => (int)v!).ToArray();
        Assert.Equal(expectedTs, sched.Timesteps(steps));
        Assert.Equal(expectedTs, model.CallTimesteps);
        var exp = c["latents"]!.AsArray();
        Assert.Equal(exp.Count, latents.Count);
        double rel = (double)root["tolerance"]!["rel"]!, floor = (double)root["tolerance"]!["abs_floor"]!;
        double worst = 0;
        for (int k = 0; k < exp.Count; k++)
        {
            var e = tensor(exp[k]!.AsArray().Select(v => (double)v!).ToArray()).reshape(shape);
            double bound = rel * Math.Max(floor, e.abs().max().item<double>());
            double d = MaxAbsDiff(latents[k], e);
            worst = Math.Max(worst, d / bound);
            Assert.True(d <= bound, $"{name}: latent {k} max|d| {d:g4} > {bound:g4}");
        }
        output.WriteLine($"{name}: worst max|d| / bound = {worst:g3}");
    }

    // ---- convergence ------------------------------------------------------------------------------------------------

    /// <summary>
    /// All three samplers integrate the same probability-flow ODE. With trailing spacing and set_alpha_to_one they share
    /// both ends (t = 999 to ᾱ = 1; DPM-Solver's final sigma 0 is ᾱ = 1). Reference: Richardson-extrapolated DDIM,
    /// 2·DDIM(1000) − DDIM(500). Measured max|x − ref| (max|ref| 31.4): DDIM 50/100/1000 steps 0.420/0.211/0.0212
    /// (first order), DPM++ 2M 20/40/100 0.147/0.0364/0.0053 (second order), PNDM 20/40/100 0.0431/0.0115/0.0021.
    /// </summary>
    [Fact]
    public void PndmAndDpmSolverConvergeToTheDdimLimit()
    {
        using var scope = NewDisposeScope();
        var cfg = Sd with { SetAlphaToOne = true, TimestepSpacing = "trailing" };
        var ddim = new DdimScheduler(cfg);
        var pndm = new PndmScheduler(cfg);
        var dpm = new DpmSolverMultistepScheduler(Sd with { TimestepSpacing = "trailing" });
        var model = DdimFixtureModel();
        var x = FixtureNoise();
        var reference = 2 * ddim.Sample(x, 1000, model.Fn) - ddim.Sample(x, 500, model.Fn);
        double Err(IScheduler s, int n) => MaxAbsDiff(s.Sample(x, n, model.Fn), reference);

        double ddim50 = Err(ddim, 50), ddim100 = Err(ddim, 100), ddim1000 = Err(ddim, 1000);
        double dpm20 = Err(dpm, 20), dpm40 = Err(dpm, 40), dpm100 = Err(dpm, 100);
        double pndm20 = Err(pndm, 20), pndm40 = Err(pndm, 40), pndm100 = Err(pndm, 100);
        output.WriteLine($"DDIM 50/100/1000 {ddim50:g3}/{ddim100:g3}/{ddim1000:g3}; DPM++ 20/40/100 {dpm20:g3}/{dpm40:g3}/{dpm100:g3}; PNDM 20/40/100 {pndm20:g3}/{pndm40:g3}/{pndm100:g3}");
        Assert.True(ddim1000 < 0.03, $"DDIM 1000 {ddim1000}");
        Assert.True(dpm100 < 0.008, $"DPM++ 100 {dpm100}");
        Assert.True(pndm100 < 0.004, $"PNDM 100 {pndm100}");
        Assert.InRange(ddim50 / ddim100, 1.8, 2.2);   // first order
        Assert.InRange(dpm20 / dpm40, 3.5, 4.5);      // second order
        Assert.True(pndm20 / pndm40 > 3.3, $"PNDM order ratio {pndm20 / pndm40}");
    }

    // ---- resources, cancellation, reuse ---------------------------------------------------------------------------

    public static TheoryData<string> Names() => new() { "ddim", "pndm", "dpm++2m" };

    [Theory]
    [MemberData(nameof(Names))]
    public void SamplingLeaksNoTensors(string name)
    {
        var sched = SchedulerFactory.Create(name);
        using var x = FixtureNoise();
        var model = DdimFixtureModel();
        var stats = DisposeScopeManager.Statistics;
        var liveAtStep = new List<long>();
        long before = stats.ThreadTotalLiveCount;
        using (var result = sched.Sample(x, 30, model.Fn, (i, n, t, latent) => liveAtStep.Add(stats.ThreadTotalLiveCount)))
            Assert.Equal(before + 1, stats.ThreadTotalLiveCount); // only the result
        Assert.Equal(before, stats.ThreadTotalLiveCount);
        // after the multistep history has filled up, the live count stays flat step after step
        Assert.Single(liveAtStep.Skip(5).Distinct());

        if (sched is DdimScheduler ddim)
        {
            var latents = ddim.Invert(x, 30, model.Fn);
            Assert.Equal(before + 31, stats.ThreadTotalLiveCount);
            foreach (var l in latents) l.Dispose();
            Assert.Equal(before, stats.ThreadTotalLiveCount);
            using (var eta = ddim.WithEta(1.0).Sample(x, 10, model.Fn, generator: new Generator(1))) { }
            Assert.Equal(before, stats.ThreadTotalLiveCount);
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void CancellingInTheCallbackStopsBeforeTheNextModelCall(string name)
    {
        var sched = SchedulerFactory.Create(name);
        using var x = FixtureNoise();
        var model = DdimFixtureModel();
        using var cts = new CancellationTokenSource();
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var seen = new List<int>();
        Assert.ThrowsAny<OperationCanceledException>(() => sched.Sample(x, 20, model.Fn, (i, n, t, latent) =>
        {
            seen.Add(i);
            if (i == 2) cts.Cancel();
        }, cts.Token));
        Assert.Equal(new[] { 0, 1, 2 }, seen);
        Assert.Equal(3, model.CallTimesteps.Count);
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);

        if (sched is DdimScheduler ddim)
        {
            using var cts2 = new CancellationTokenSource();
            Assert.ThrowsAny<OperationCanceledException>(() => ddim.Invert(x, 20, model.Fn, (i, n, t, l) => cts2.Cancel(), cts2.Token));
            Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void OneInstanceGivesIdenticalResultsWhenReused(string name)
    {
        using var scope = NewDisposeScope();
        var sched = SchedulerFactory.Create(name);
        var x = FixtureNoise();
        var model = DdimFixtureModel();
        var a = sched.Sample(x, 12, model.Fn);
        var b = sched.Sample(x, 12, model.Fn);
        Assert.True(a.equal(b).all().item<bool>());
        Assert.Equal(sched.ModelCalls(12) * 2, model.CallTimesteps.Count);
        Assert.True(x.equal(FixtureNoise()).all().item<bool>(), "the input latent was modified");
    }

    [Fact]
    public void DdimWithEtaUsesTheGenerator()
    {
        using var scope = NewDisposeScope();
        var ddim = new DdimScheduler(Sd, eta: 1.0);
        var x = FixtureNoise();
        var model = DdimFixtureModel();
        var a = ddim.Sample(x, 10, model.Fn, generator: new Generator(42));
        var b = ddim.Sample(x, 10, model.Fn, generator: new Generator(42));
        var c = ddim.Sample(x, 10, model.Fn, generator: new Generator(43));
        var d = new DdimScheduler(Sd).Sample(x, 10, model.Fn);
        Assert.True(a.equal(b).all().item<bool>());
        Assert.True(MaxAbsDiff(a, c) > 1e-3);
        Assert.True(MaxAbsDiff(a, d) > 1e-3);
        Assert.Throws<ArgumentException>(() => ddim.Step(x, 981, 961, x, eta: 1.0));
    }

    [Fact]
    public void DdimStepIsTheDeterministicTransferAtEtaZero()
    {
        using var scope = NewDisposeScope();
        var ddim = new DdimScheduler(Sd);
        var x = FixtureNoise();
        var eps = x * 0.1 + 0.5;
        var (prev, x0) = ddim.Step(eps, 21, 1, x);
        var (next, x0b) = DdimScheduler.Transfer(x, eps, ddim.Schedule.AlphaCumprod(21), ddim.Schedule.AlphaCumprod(1));
        Assert.True(MaxAbsDiff(prev, next) < 1e-6);
        Assert.True(MaxAbsDiff(x0, x0b) < 1e-6);
        // the last step (t_prev < 0) lands on ᾱ_0, not 1
        var (last, lastX0) = ddim.Step(eps, 1, -19, x);
        var (expect, _) = DdimScheduler.Transfer(x, eps, ddim.Schedule.AlphaCumprod(1), ddim.Schedule.AlphaCumprod(0));
        Assert.True(MaxAbsDiff(last, expect) < 1e-6);
        Assert.True(MaxAbsDiff(last, lastX0) > 1e-3);
    }

    // ---- factory and config -----------------------------------------------------------------------------------------

    [Fact]
    public void FactoryCreatesByNameAndAlias()
    {
        Assert.IsType<DdimScheduler>(SchedulerFactory.Create("ddim"));
        Assert.IsType<PndmScheduler>(SchedulerFactory.Create("PLMS"));
        Assert.IsType<DpmSolverMultistepScheduler>(SchedulerFactory.Create("dpm++2m"));
        Assert.IsType<DpmSolverMultistepScheduler>(SchedulerFactory.Create("dpmpp2m"));
        foreach (var n in SchedulerFactory.Names) Assert.Equal(n, SchedulerFactory.Create(n).Name);
        var e = Assert.Throws<SonicException>(() => SchedulerFactory.Create("euler"));
        Assert.Contains("euler", e.Message);
    }

    [Fact]
    public void FactoryBuildsTheClassNamedInSchedulerConfigJson()
    {
        // SD v1.4 scheduler/scheduler_config.json as published (no timestep_spacing key)
        const string sd14 = """
            {"_class_name": "PNDMScheduler", "_diffusers_version": "0.7.0.dev0", "beta_end": 0.012,
             "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
             "set_alpha_to_one": false, "skip_prk_steps": true, "steps_offset": 1, "trained_betas": null, "clip_sample": false}
            """;
        using var dir = RepoPaths.NewTemp();
        Directory.CreateDirectory(Path.Combine(dir.Path, "scheduler"));
        File.WriteAllText(Path.Combine(dir.Path, "scheduler", "scheduler_config.json"), sd14);

        var fromFolder = Assert.IsType<PndmScheduler>(SchedulerFactory.Load(dir.Path));
        Assert.Equal("leading", fromFolder.Spacing);
        Assert.Equal(Sd with { ClassName = "PNDMScheduler", Source = fromFolder.Config.Source }, fromFolder.Config);

        var cfg = fromFolder.Config;
        Assert.Equal("linspace", Assert.IsType<DpmSolverMultistepScheduler>(SchedulerFactory.Create("dpm++2m", cfg)).Spacing);
        var ddim = Assert.IsType<DdimScheduler>(SchedulerFactory.FromConfig(cfg with { ClassName = "DDIMScheduler" }));
        Assert.False(ddim.ClipSample);
        Assert.IsType<DpmSolverMultistepScheduler>(SchedulerFactory.FromConfig(cfg with { ClassName = "DPMSolverMultistepScheduler" }));

        var bad = Assert.Throws<SonicException>(() => SchedulerFactory.FromConfig(cfg with { ClassName = "EulerDiscreteScheduler" }));
        Assert.Contains("EulerDiscreteScheduler", bad.Message);
        Assert.Contains("scheduler_config.json", bad.Message);
        Assert.Throws<SonicException>(() => SchedulerFactory.Load(Path.Combine(dir.Path, "missing.json")));
    }

    [Fact]
    public void UnsupportedSettingsAreOneLineUserErrors()
    {
        var cases = new (SchedulerConfig Cfg, Func<SchedulerConfig, IScheduler> Make, string Key)[]
        {
            (Sd with { SkipPrkSteps = false }, c => new PndmScheduler(c), "skip_prk_steps"),
            (Sd with { TimestepSpacing = "karras" }, c => new DdimScheduler(c), "timestep_spacing"),
            (Sd with { PredictionType = "sample" }, c => new PndmScheduler(c), "prediction_type"),
            (Sd with { SolverOrder = 3 }, c => new DpmSolverMultistepScheduler(c), "solver_order"),
            (Sd with { AlgorithmType = "sde-dpmsolver++" }, c => new DpmSolverMultistepScheduler(c), "algorithm_type"),
            (Sd with { UseKarrasSigmas = true }, c => new DpmSolverMultistepScheduler(c), "use_karras_sigmas"),
            (Sd with { Thresholding = true }, c => new DdimScheduler(c), "thresholding"),
        };
        foreach (var (cfg, make, key) in cases)
        {
            var e = Assert.Throws<SonicException>(() => make(cfg));
            Assert.Contains(key, e.Message);
            Assert.DoesNotContain('\n', e.Message);
        }
    }
}
