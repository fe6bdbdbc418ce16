using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// What a model-specific trainer plugs into <see cref="Trainer"/>: it owns the model(s) and the data, and computes the
/// loss of one batch. The engine owns optimizer, LR schedule, clipping, EMA, checkpoints, metrics and progress.
/// For exact resumption every random draw must come from <see cref="TrainingBatch.Generator"/> or torch's default
/// generator (e.g. nn.Dropout) — both are checkpointed — never from System.Random or an unsaved generator.
/// </summary>
public interface ITrainingTask
{
    /// <summary>Number of samples; <see cref="TrainingBatch.Indices"/> index into 0..DatasetSize-1.</summary>
    long DatasetSize { get; }

    /// <summary>Trainable parameters, grouped by learning rate. Frozen weights must not be listed (see <see cref="ModuleFreezer"/>).</summary>
    IReadOnlyList<ParameterGroup> ParameterGroups { get; }

    /// <summary>
    /// Settings of the task that must not change on resume (model config, data folder, loss weights...). Saved as
    /// "task" in the run's config.json and compared on resume.
    /// </summary>
    JsonObject? Config => null;

    /// <summary>
    /// Non-trainable tensors that training changes and a resume must restore (e.g. BatchNorm running statistics).
    /// They are saved to buffers.safetensors and copied back in place on resume.
    /// </summary>
    IEnumerable<(string Name, Tensor Tensor)> StateBuffers => [];

    /// <summary>
    /// The loss of one batch, computed with grad (the engine calls backward). Runs inside the engine's per-step dispose
    /// scope, so temporaries need no disposal.
    /// </summary>
    TrainingLoss ComputeLoss(TrainingBatch batch);

    /// <summary>
    /// Called after each checkpoint is written (e.g. to render samples, optionally inside <c>Ema?.SwapIn()</c>). The
    /// engine restores both RNG states afterwards, so random draws here cannot change the training trajectory.
    /// </summary>
    void OnCheckpoint(Trainer trainer, string checkpointDirectory) { }
}
