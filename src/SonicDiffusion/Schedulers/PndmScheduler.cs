using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Schedulers;

/// <summary>
/// diffusers <c>PNDMScheduler</c> with <c>skip_prk_steps</c> true (PLMS, the SD v1 default): the second-to-last grid
/// timestep is repeated, so N steps take N + 1 model calls (981, 961, 961, 941, …, 1 for 50 SD steps).
/// </summary>
public sealed class PndmScheduler : IScheduler
{
    public string Name => "pndm";
    public SchedulerConfig Config { get; }
    public NoiseSchedule Schedule { get; }
    public double FinalAlphaCumprod { get; }
    public string Spacing { get; }
    public PredictionKind Prediction { get; }

    public PndmScheduler(SchedulerConfig config)
    {
        config.RejectUnsupported();
        if (!(config.SkipPrkSteps ?? false))
            throw new SonicException($"{config.Source}: PNDM with skip_prk_steps false (Runge-Kutta warm-up) is not supported; set skip_prk_steps true (the Stable Diffusion setting)");
        Config = config;
        Schedule = new NoiseSchedule(config);
        Spacing = config.Spacing("leading");
        Prediction = config.Prediction(PredictionKind.Epsilon, PredictionKind.VPrediction);
        FinalAlphaCumprod = (config.SetAlphaToOne ?? false) ? 1.0 : Schedule.AlphaCumprod(0);
    }

    public IReadOnlyList<int> Timesteps(int steps)
    {
        var asc = TimestepSpacing.Descending(Spacing, Schedule.NumTrainTimesteps, steps, Config.StepsOffset, Config.Source).Reverse().ToArray();
        // concat(asc[:-1], asc[-2:-1], asc[-1:]) reversed
        var plms = asc[..^1].Concat(asc.Length >= 2 ? asc[^2..^1] : []).Concat(asc[^1..]).Reverse().ToArray();
        return plms;
    }

    public int ModelCalls(int steps) => Timesteps(steps).Count;

    /// <summary>
    /// diffusers <c>_get_prev_sample</c> (PNDM paper eq. 9): moves x from timestep t to tPrev (negative = final ᾱ)
    /// with the combined model output; equal to a DDIM η = 0 step with that noise estimate.
    /// </summary>
    public Tensor PrevSample(Tensor x, int t, int tPrev, Tensor modelOutput)
    {
        double a = Schedule.AlphaCumprod(t);
        double ap = tPrev >= 0 ? Schedule.AlphaCumprod(tPrev) : FinalAlphaCumprod;
        using var scope = NewDisposeScope();
        var e = Prediction == PredictionKind.VPrediction ? modelOutput * Math.Sqrt(a) + x * Math.Sqrt(1 - a) : modelOutput;
        double sampleCoeff = Math.Sqrt(ap / a);
        double denom = a * Math.Sqrt(1 - ap) + Math.Sqrt(a * (1 - a) * ap);
        return scope.MoveToOuter(x * sampleCoeff - e * (ap - a) / denom);
    }

    public Tensor Sample(Tensor xT, int steps, DenoiseFn denoise, StepCallback? onStep = null,
        CancellationToken ct = default, torch.Generator? generator = null)
    {
        var ts = Timesteps(steps);
        int ratio = Schedule.NumTrainTimesteps / steps;
        var ets = new List<Tensor>(4);
        Tensor? curSample = null;
        var x = xT;
        try
        {
            for (int counter = 0; counter < ts.Count; counter++)
            {
                ct.ThrowIfCancellationRequested();
                int t = ts[counter], from = t, to = t - ratio;
                Tensor next;
                using (var step = NewDisposeScope())
                {
                    var output = denoise(x, t);
                    if (counter != 1)
                    {
                        if (ets.Count == 4) { ets[0].Dispose(); ets.RemoveAt(0); }
                        ets.Add(step.MoveToOuter(output.alias()));
                    }
                    else
                    {
                        to = t;
                        from = t + ratio;
                    }
                    var sample = x;
                    Tensor e;
                    if (ets.Count == 1 && counter == 0)
                    {
                        e = output;
                        curSample = step.MoveToOuter(x.alias());
                    }
                    else if (ets.Count == 1 && counter == 1)
                    {
                        e = (output + ets[^1]) / 2;
                        sample = curSample!;
                    }
                    else if (ets.Count == 2) e = (3 * ets[^1] - ets[^2]) / 2;
                    else if (ets.Count == 3) e = (23 * ets[^1] - 16 * ets[^2] + 5 * ets[^3]) / 12;
                    else e = (1.0 / 24) * (55 * ets[^1] - 59 * ets[^2] + 37 * ets[^3] - 9 * ets[^4]);
                    next = step.MoveToOuter(PrevSample(sample, from, to, e));
                }
                if (counter == 1)
                {
                    curSample?.Dispose();
                    curSample = null;
                }
                if (!ReferenceEquals(x, xT)) x.Dispose();
                x = next;
                onStep?.Invoke(counter, ts.Count, t, x);
            }
            ct.ThrowIfCancellationRequested();
            var result = x;
            x = xT;
            return result;
        }
        finally
        {
            foreach (var h in ets) h.Dispose();
            curSample?.Dispose();
            if (!ReferenceEquals(x, xT)) x.Dispose();
        }
    }
}
