using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Schedulers;

/// <summary>
/// A sampler: an immutable description (config + schedule) whose <see cref="Sample"/> is a pure loop over model
/// calls. All multistep state lives inside one <see cref="Sample"/> call, so one instance may be reused.
/// </summary>
public interface IScheduler
{
    /// <summary>Canonical factory name: ddim, pndm, dpm++2m.</summary>
    string Name { get; }
    SchedulerConfig Config { get; }
    NoiseSchedule Schedule { get; }

    /// <summary>The timestep of every model call, in call order (PNDM repeats one, so it has steps + 1 entries).</summary>
    IReadOnlyList<int> Timesteps(int steps);

    int ModelCalls(int steps);

    /// <summary>
    /// Runs the sampler from <paramref name="xT"/> (not modified, not disposed) and returns the final latent, owned by the
    /// caller's dispose scope. Throws <see cref="OperationCanceledException"/> when <paramref name="ct"/> is cancelled.
    /// </summary>
    Tensor Sample(Tensor xT, int steps, DenoiseFn denoise, StepCallback? onStep = null,
        CancellationToken ct = default, torch.Generator? generator = null);
}
