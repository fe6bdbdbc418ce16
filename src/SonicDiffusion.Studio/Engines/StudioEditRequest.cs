using static TorchSharp.torch;

namespace SonicDiffusion.Studio.Engines;

/// <summary>One edit: the source image [1, 3, H, W] in [0, 1] (owned by the caller) and the generation parameters.</summary>
public sealed record StudioEditRequest
{
    public required Tensor Image { get; init; }
    public required StudioGenerateRequest Generation { get; init; }
}
