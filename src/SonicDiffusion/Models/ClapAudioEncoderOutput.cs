using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// Outputs of <see cref="ClapAudioEncoder.Encode"/>: <see cref="ProjectedNormalized"/> is what SonicDiffusion feeds the
/// audio projector (as [B, 1, d_proj]); the others are the official intermediate outputs. The caller owns the tensors.
/// </summary>
public sealed record ClapAudioEncoderOutput(Tensor ProjectedNormalized, Tensor Projected, Tensor Embedding, Tensor ClipwiseOutput) : IDisposable
{
    /// <summary>The tensors keyed by their fixture role names (projected_normalized, projected, embedding, clipwise_output).</summary>
    public IReadOnlyDictionary<string, Tensor> ByRole() => new Dictionary<string, Tensor>
    {
        ["projected_normalized"] = ProjectedNormalized,
        ["projected"] = Projected,
        ["embedding"] = Embedding,
        ["clipwise_output"] = ClipwiseOutput,
    };

    public void Dispose()
    {
        ProjectedNormalized.Dispose();
        Projected.Dispose();
        Embedding.Dispose();
        ClipwiseOutput.Dispose();
    }
}
