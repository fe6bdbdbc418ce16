using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// A batch's loss: <paramref name="Total"/> is the scalar that is back-propagated; <paramref name="Parts"/> are named
/// scalar components (e.g. "mse", "clip") logged to metrics.jsonl next to it.
/// </summary>
public sealed record TrainingLoss(Tensor Total, IReadOnlyDictionary<string, Tensor>? Parts = null);
