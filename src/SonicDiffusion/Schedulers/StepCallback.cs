using static TorchSharp.torch;

namespace SonicDiffusion.Schedulers;

/// <summary>
/// Called after model call <paramref name="index"/> (0-based) of <paramref name="total"/>, made at
/// <paramref name="timestep"/>, with the latent that step produced. The latent is only valid during the call (clone it
/// to keep it; tensors made here belong to the caller's dispose scope). Cancelling the sampler's token here stops the
/// loop before the next model call.
/// </summary>
public delegate void StepCallback(int index, int total, int timestep, Tensor latent);
