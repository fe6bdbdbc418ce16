using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// An extra step of a <see cref="BasicTransformerBlock"/>, run after the text cross-attention (attn2) and before the
/// feed-forward: the seam of SonicDiffusion's gated audio cross-attention
/// <c>h += β·tanh(γ)·Attn_audio(LN(h), audio_tokens)</c>. On <see cref="Attach"/> the extension registers its parameters
/// on the block itself (<see cref="BasicTransformerBlock.AddChild"/>, <see cref="BasicTransformerBlock.AddParameter"/>)
/// so they carry diffusers names such as <c>...transformer_blocks.0.attn_adapter.to_q.weight</c>,
/// <c>norm_adapter.weight</c> and <c>gate_adapter</c>, load with the rest of the UNet and move with <c>.to(device)</c>.
/// </summary>
public interface ITransformerBlockExtension
{
    /// <summary>Called once by <see cref="BasicTransformerBlock.SetExtension"/>: register child modules/parameters on the block.</summary>
    void Attach(BasicTransformerBlock block);

    /// <summary>Returns the new hidden states [B, N, C] (including the residual); per-call conditioning comes from <paramref name="context"/>.</summary>
    Tensor Forward(BasicTransformerBlock block, Tensor hiddenStates, Tensor encoderHiddenStates, UNetCallContext? context);
}
