using static TorchSharp.torch;

namespace SonicDiffusion.Evaluation;

/// <summary>What <see cref="WorldClassifier.Forward"/> returns: class logits [B, K], intensity in [0, 1] [B] and the penultimate features [B, F].</summary>
public sealed record WorldClassifierOutput(Tensor Logits, Tensor Intensity, Tensor Features) : IDisposable
{
    public void Dispose()
    {
        Logits.Dispose();
        Intensity.Dispose();
        Features.Dispose();
    }
}
