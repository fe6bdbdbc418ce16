using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// One step's input: the 0-based update index <paramref name="Step"/>, the data epoch, the dataset indices of the batch,
/// and the engine's checkpointed CPU generator for noise/timestep/dropout-mask sampling.
/// </summary>
public sealed record TrainingBatch(long Step, long Epoch, long[] Indices, Generator Generator);
