using static TorchSharp.torch;

namespace SonicDiffusion.Schedulers;

/// <summary>
/// The denoiser a sampler drives: the model output at latent <paramref name="x"/> and integer DDPM timestep
/// <paramref name="timestep"/> (ε for prediction_type epsilon; guidance is the callback's business). Tensors the
/// callback creates are freed by the sampler at the end of the step; do not dispose <paramref name="x"/>.
/// </summary>
public delegate Tensor DenoiseFn(Tensor x, int timestep);
