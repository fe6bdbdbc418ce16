using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Schedulers;

/// <summary>
/// diffusers <c>DPMSolverMultistepScheduler</c>, algorithm dpmsolver++ with solver_order 1 or 2 (2 = "DPM++ 2M"),
/// midpoint or heun second-order update, lower_order_final, final sigma zero or sigma_min. Default spacing linspace
/// over N + 1 points (999, 949, …, 50 for 20 steps).
/// </summary>
public sealed class DpmSolverMultistepScheduler : IScheduler
{
    public string Name => "dpm++2m";
    public SchedulerConfig Config { get; }
    public NoiseSchedule Schedule { get; }
    public string Spacing { get; }
    public PredictionKind Prediction { get; }

    public DpmSolverMultistepScheduler(SchedulerConfig config)
    {
        config.RejectUnsupported();
        var src = config.Source;
        if (config.AlgorithmType != "dpmsolver++")
            throw new SonicException($"{src}: algorithm_type '{config.AlgorithmType}' is not supported (use dpmsolver++)");
        if (config.SolverOrder is not (1 or 2))
            throw new SonicException($"{src}: solver_order {config.SolverOrder} is not supported (use 1 or 2)");
        if (config.SolverType is not ("midpoint" or "heun"))
            throw new SonicException($"{src}: solver_type '{config.SolverType}' is not supported (use midpoint or heun)");
        if (config.FinalSigmasType is not ("zero" or "sigma_min"))
            throw new SonicException($"{src}: final_sigmas_type '{config.FinalSigmasType}' is not supported (use zero or sigma_min)");
        if (config.UseKarrasSigmas) throw new SonicException($"{src}: use_karras_sigmas true is not supported");
        if (config.UseLuLambdas) throw new SonicException($"{src}: use_lu_lambdas true is not supported");
        Config = config;
        Schedule = new NoiseSchedule(config);
        Spacing = config.Spacing("linspace");
        Prediction = config.Prediction(PredictionKind.Epsilon, PredictionKind.VPrediction, PredictionKind.Sample);
    }

    public IReadOnlyList<int> Timesteps(int steps) =>
        TimestepSpacing.DpmSolver(Spacing, Schedule.NumTrainTimesteps, steps, Config.StepsOffset, Config.Source);

    public int ModelCalls(int steps) => Timesteps(steps).Count;

    /// <summary>k-diffusion sigmas √((1−ᾱ)/ᾱ) at each timestep plus the final one (0 or σ_min), rounded to float32 as diffusers stores them.</summary>
    public double[] Sigmas(IReadOnlyList<int> timesteps)
    {
        static double Sigma(double ac) => Math.Sqrt((1 - ac) / ac);
        var s = new double[timesteps.Count + 1];
        for (int i = 0; i < timesteps.Count; i++) s[i] = (float)Sigma(Schedule.AlphaCumprod(timesteps[i]));
        s[^1] = Config.FinalSigmasType == "zero" ? 0.0 : (float)Sigma(Schedule.AlphaCumprod(0));
        return s;
    }

    private static (double Alpha, double Sigma, double Lambda) Level(double sigma)
    {
        double alpha = 1 / Math.Sqrt(sigma * sigma + 1), s = sigma * alpha;
        return (alpha, s, Math.Log(alpha) - Math.Log(s));
    }

    /// <summary>The data prediction m = x̂0 from a model output at noise level <paramref name="sigma"/> (k-diffusion sigma).</summary>
    public Tensor DataPrediction(Tensor modelOutput, Tensor x, double sigma)
    {
        var (alpha, s, _) = Level(sigma);
        return Prediction switch
        {
            PredictionKind.Epsilon => (x - modelOutput * s) / alpha,
            PredictionKind.VPrediction => x * alpha - modelOutput * s,
            _ => modelOutput.alias(),
        };
    }

    /// <summary>First-order dpmsolver++ update (= DDIM) from sigma <paramref name="sigmaFrom"/> to <paramref name="sigmaTo"/>.</summary>
    public static Tensor FirstOrderUpdate(Tensor x, Tensor m0, double sigmaFrom, double sigmaTo)
    {
        var (_, s0, l0) = Level(sigmaFrom);
        var (at, st, lt) = Level(sigmaTo);
        double h = lt - l0;
        return x * (st / s0) - m0 * (at * (Math.Exp(-h) - 1.0));
    }

    /// <summary>Second-order multistep dpmsolver++ update using the previous data prediction <paramref name="m1"/> made at <paramref name="sigmaPrev"/>.</summary>
    public Tensor SecondOrderUpdate(Tensor x, Tensor m0, Tensor m1, double sigmaPrev, double sigmaFrom, double sigmaTo)
    {
        var (_, _, l1) = Level(sigmaPrev);
        var (_, s0, l0) = Level(sigmaFrom);
        var (at, st, lt) = Level(sigmaTo);
        double h = lt - l0, h0 = l0 - l1, r0 = h0 / h;
        using var scope = NewDisposeScope();
        var d1 = (m0 - m1) * (1.0 / r0);
        double c = at * (Math.Exp(-h) - 1.0);
        var xt = Config.SolverType == "midpoint"
            ? x * (st / s0) - m0 * c - d1 * (0.5 * c)
            : x * (st / s0) - m0 * c + d1 * (at * ((Math.Exp(-h) - 1.0) / h + 1.0));
        return scope.MoveToOuter(xt);
    }

    public Tensor Sample(Tensor xT, int steps, DenoiseFn denoise, StepCallback? onStep = null,
        CancellationToken ct = default, torch.Generator? generator = null)
    {
        var ts = Timesteps(steps);
        var sigmas = Sigmas(ts);
        int n = ts.Count;
        Tensor? previous = null;
        int lowerOrderNums = 0;
        var x = xT;
        try
        {
            for (int i = 0; i < n; i++)
            {
                ct.ThrowIfCancellationRequested();
                bool lowerOrderFinal = i == n - 1 &&
                    (Config.EulerAtFinal || (Config.LowerOrderFinal && n < 15) || Config.FinalSigmasType == "zero");
                Tensor next, m;
                using (var step = NewDisposeScope())
                {
                    var output = denoise(x, ts[i]);
                    var m0 = DataPrediction(output, x, sigmas[i]);
                    var prev = Config.SolverOrder == 1 || lowerOrderNums < 1 || lowerOrderFinal
                        ? FirstOrderUpdate(x, m0, sigmas[i], sigmas[i + 1])
                        : SecondOrderUpdate(x, m0, previous!, sigmas[i - 1], sigmas[i], sigmas[i + 1]);
                    next = step.MoveToOuter(prev);
                    m = step.MoveToOuter(m0);
                }
                if (lowerOrderNums < Config.SolverOrder) lowerOrderNums++;
                previous?.Dispose();
                previous = m;
                if (!ReferenceEquals(x, xT)) x.Dispose();
                x = next;
                onStep?.Invoke(i, n, ts[i], x);
            }
            ct.ThrowIfCancellationRequested();
            var result = x;
            x = xT;
            return result;
        }
        finally
        {
            previous?.Dispose();
            if (!ReferenceEquals(x, xT)) x.Dispose();
        }
    }
}
