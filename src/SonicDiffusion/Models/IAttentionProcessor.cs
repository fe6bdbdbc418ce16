using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// Computes an <see cref="Attention"/> module's output (diffusers' attention-processor seam). Replace
/// <see cref="Attention.Processor"/> on chosen modules to change how they attend, e.g. PnP editing overwrites the
/// self-attention q/k of some batch items with those of the source item (subclass <see cref="AttnProcessor"/> and
/// override <see cref="AttnProcessor.Transform"/>). Tensors a processor keeps beyond the call must be detached from
/// the current dispose scope.
/// </summary>
public interface IAttentionProcessor
{
    /// <param name="encoderHiddenStates">Keys/values source [B, M, Ck]; null = self-attention on <paramref name="hiddenStates"/>.</param>
    Tensor Process(Attention attn, Tensor hiddenStates, Tensor? encoderHiddenStates, UNetCallContext? context);
}
