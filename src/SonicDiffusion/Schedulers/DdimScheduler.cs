using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Schedulers;

/// <summary>
/// diffusers <c>DDIMScheduler</c> (= CompVis <c>DDIMSampler</c> for SD's config) plus the PnP / SonicDiffusion DDIM
/// inversion. The step after t is t − T/N (diffusers' rule, whatever the spacing); below 0 it uses
/// <see cref="FinalAlphaCumprod"/> (ᾱ_0 with set_alpha_to_one false, as SD v1).
/// </summary>
public sealed class DdimScheduler : IScheduler
{
    public string Name => "ddim";
    public SchedulerConfig Config { get; }
    public NoiseSchedule Schedule { get; }
    /// <summary>0 = deterministic DDIM (what PnP uses); 1 = DDPM-like.</summary>
    public double Eta { get; }
    public double FinalAlphaCumprod { get; }
    public string Spacing { get; }
    public PredictionKind Prediction { get; }
    public bool ClipSample { get; }

    public DdimScheduler(SchedulerConfig config, double eta = 0.0)
    {
        config.RejectUnsupported();
        if (!(eta >= 0)) throw new SonicException($"{config.Source}: DDIM eta {eta} must be >= 0");
        Config = config;
        Schedule = new NoiseSchedule(config);
        Eta = eta;
        Spacing = config.Spacing("leading");
        Prediction = config.Prediction(PredictionKind.Epsilon, PredictionKind.VPrediction, PredictionKind.Sample);
        ClipSample = config.ClipSample ?? true;
        FinalAlphaCumprod = (config.SetAlphaToOne ?? true) ? 1.0 : Schedule.AlphaCumprod(0);
    }

    public DdimScheduler WithEta(double eta) => new(Config, eta);

    public IReadOnlyList<int> Timesteps(int steps) =>
        TimestepSpacing.Descending(Spacing, Schedule.NumTrainTimesteps, steps, Config.StepsOffset, Config.Source);

    public int ModelCalls(int steps) => Timesteps(steps).Count;

    /// <summary>diffusers' previous timestep: t − T / steps (negative = past the end of the chain).</summary>
    public int PreviousTimestep(int t, int steps) => t - Schedule.NumTrainTimesteps / steps;

    /// <summary>ᾱ_t, or <see cref="FinalAlphaCumprod"/> for t &lt; 0.</summary>
    public double AlphaCumprodOrFinal(int t) => t >= 0 ? Schedule.AlphaCumprod(t) : FinalAlphaCumprod;

    /// <summary>Converts a model output at timestep t into (x̂0, ε̂) according to the prediction type.</summary>
    public (Tensor PredX0, Tensor PredEps) Predict(Tensor modelOutput, int t, Tensor x)
    {
        double a = Schedule.AlphaCumprod(t), sa = Math.Sqrt(a), sb = Math.Sqrt(1 - a);
        return Prediction switch
        {
            PredictionKind.Epsilon => ((x - modelOutput * sb) / sa, modelOutput.alias()),
            PredictionKind.VPrediction => (x * sa - modelOutput * sb, modelOutput * sa + x * sb),
            _ => (modelOutput.alias(), (x - modelOutput * sa) / sb),
        };
    }

    /// <summary>
    /// One DDIM step from timestep <paramref name="t"/> to <paramref name="tPrev"/> (negative = final ᾱ).
    /// <paramref name="noise"/> (N(0, I), shape of x) is required when <paramref name="eta"/> &gt; 0.
    /// Returns new tensors in the caller's dispose scope.
    /// </summary>
    public (Tensor Prev, Tensor PredX0) Step(Tensor modelOutput, int t, int tPrev, Tensor x, double eta = 0.0, Tensor? noise = null)
    {
        double a = Schedule.AlphaCumprod(t), ap = AlphaCumprodOrFinal(tPrev);
        using var scope = NewDisposeScope();
        var (x0, eps) = Predict(modelOutput, t, x);
        if (ClipSample) x0 = x0.clamp(-Config.ClipSampleRange, Config.ClipSampleRange);
        double std = eta * Math.Sqrt((1 - ap) / (1 - a) * (1 - a / ap));
        var prev = x0 * Math.Sqrt(ap) + eps * Math.Sqrt(1 - ap - std * std);
        if (eta > 0)
        {
            if (noise is null) throw new ArgumentException("DDIM with eta > 0 needs a noise tensor", nameof(noise));
            prev = prev + noise * std;
        }
        return (scope.MoveToOuter(prev), scope.MoveToOuter(x0));
    }

    /// <summary>
    /// The deterministic DDIM move of x from noise level ᾱ = <paramref name="alphaFrom"/> to <paramref name="alphaTo"/>
    /// with noise estimate ε: x̂0 = (x − √(1−ā_f)·ε)/√ā_f, x' = √ā_t·x̂0 + √(1−ā_t)·ε. Used both ways (sampling, inversion).
    /// </summary>
    public static (Tensor Next, Tensor PredX0) Transfer(Tensor x, Tensor eps, double alphaFrom, double alphaTo)
    {
        using var scope = NewDisposeScope();
        var x0 = (x - eps * Math.Sqrt(1 - alphaFrom)) / Math.Sqrt(alphaFrom);
        var next = x0 * Math.Sqrt(alphaTo) + eps * Math.Sqrt(1 - alphaTo);
        return (scope.MoveToOuter(next), scope.MoveToOuter(x0));
    }

    public Tensor Sample(Tensor xT, int steps, DenoiseFn denoise, StepCallback? onStep = null,
        CancellationToken ct = default, torch.Generator? generator = null)
    {
        var ts = Timesteps(steps);
        var x = xT;
        try
        {
            for (int i = 0; i < ts.Count; i++)
            {
                ct.ThrowIfCancellationRequested();
                int t = ts[i];
                Tensor next;
                using (var step = NewDisposeScope())
                {
                    var output = denoise(x, t);
                    var noise = Eta > 0 ? torch.randn(x.shape, dtype: x.dtype, device: x.device, generator: generator) : null;
                    var (prev, _) = Step(output, t, PreviousTimestep(t, steps), x, Eta, noise);
                    next = step.MoveToOuter(prev);
                }
                if (!ReferenceEquals(x, xT)) x.Dispose();
                x = next;
                onStep?.Invoke(i, ts.Count, t, x);
            }
            ct.ThrowIfCancellationRequested();
            var result = x;
            x = xT;
            return result;
        }
        finally
        {
            if (!ReferenceEquals(x, xT)) x.Dispose();
        }
    }

    /// <summary>Inversion timesteps, ascending (reverse of <see cref="Timesteps"/>): 1, 21, …, 981 for 50 SD steps.</summary>
    public IReadOnlyList<int> InversionTimesteps(int steps) => Timesteps(steps).Reverse().ToArray();

    /// <summary>
    /// PnP / SonicDiffusion DDIM inversion (<c>preprocess.py ddim_inversion</c>): for ascending timesteps t_i,
    /// ε = denoise(x, t_i) at the TARGET timestep, then <see cref="Transfer"/> from ᾱ[t_{i−1}] (or
    /// <see cref="FinalAlphaCumprod"/> for i = 0) to ᾱ[t_i]. Returns steps + 1 latents: index 0 a copy of
    /// <paramref name="x0"/>, index k after k steps (the last is the noise at the largest timestep); all owned by the caller.
    /// </summary>
    public IReadOnlyList<Tensor> Invert(Tensor x0, int steps, DenoiseFn denoise, StepCallback? onStep = null, CancellationToken ct = default)
    {
        if (Prediction != PredictionKind.Epsilon)
            throw new SonicException($"{Config.Source}: DDIM inversion needs prediction_type epsilon, not '{Config.PredictionType}'");
        var ts = InversionTimesteps(steps);
        var latents = new List<Tensor>(ts.Count + 1) { x0.clone() };
        try
        {
            for (int i = 0; i < ts.Count; i++)
            {
                ct.ThrowIfCancellationRequested();
                int t = ts[i];
                double from = i > 0 ? Schedule.AlphaCumprod(ts[i - 1]) : FinalAlphaCumprod;
                using (var step = NewDisposeScope())
                {
                    var eps = denoise(latents[^1], t);
                    var (next, _) = Transfer(latents[^1], eps, from, Schedule.AlphaCumprod(t));
                    latents.Add(step.MoveToOuter(next));
                }
                onStep?.Invoke(i, ts.Count, t, latents[^1]);
            }
            ct.ThrowIfCancellationRequested();
            var result = latents;
            latents = [];
            return result;
        }
        finally
        {
            foreach (var l in latents) l.Dispose();
        }
    }
}
