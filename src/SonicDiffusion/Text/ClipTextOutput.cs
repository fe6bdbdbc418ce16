using static TorchSharp.torch;

namespace SonicDiffusion.Text;

/// <summary>
/// Outputs of <see cref="ClipTextModel.Run"/>: last_hidden_state [B, T, C] (SD v1's context), pooler_output [B, C]
/// and, when asked for, HF hidden_states (embeddings output, then every layer's output). Disposing frees them all.
/// </summary>
public sealed record ClipTextOutput(Tensor LastHiddenState, Tensor PoolerOutput, IReadOnlyList<Tensor> HiddenStates) : IDisposable
{
    public void Dispose()
    {
        LastHiddenState.Dispose();
        PoolerOutput.Dispose();
        foreach (var t in HiddenStates) t.Dispose();
    }
}
