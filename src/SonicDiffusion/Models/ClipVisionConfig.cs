using SonicDiffusion.Core;
using SonicDiffusion.Text;

namespace SonicDiffusion.Models;

/// <summary>HF <c>CLIPVisionConfig</c> (the <c>vision_config</c> of a CLIP <c>config.json</c>). Defaults are ViT-B/32.</summary>
public sealed record ClipVisionConfig
{
    public int HiddenSize { get; init; } = 768;
    public int IntermediateSize { get; init; } = 3072;
    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 12;
    public int ImageSize { get; init; } = 224;
    public int PatchSize { get; init; } = 32;
    public int NumChannels { get; init; } = 3;
    public string HiddenAct { get; init; } = "quick_gelu";
    public double LayerNormEps { get; init; } = 1e-5;

    public int GridSize => ImageSize / PatchSize;
    public int NumPositions => GridSize * GridSize + 1;

    public ClipVisionConfig Validated(string source)
    {
        if (PatchSize <= 0 || ImageSize <= 0 || ImageSize % PatchSize != 0)
            throw new SonicException($"{source}: image_size {ImageSize} is not a positive multiple of patch_size {PatchSize}");
        if (NumChannels <= 0) throw new SonicException($"{source}: num_channels {NumChannels} must be positive");
        ToEncoderConfig().Validated(source);
        return this;
    }

    /// <summary>The transformer part in the shared encoder's config type (vocabulary and positions unused).</summary>
    public ClipTextConfig ToEncoderConfig() => new()
    {
        VocabSize = 1,
        HiddenSize = HiddenSize,
        NumHiddenLayers = NumHiddenLayers,
        NumAttentionHeads = NumAttentionHeads,
        IntermediateSize = IntermediateSize,
        MaxPositionEmbeddings = NumPositions,
        HiddenAct = HiddenAct,
        LayerNormEps = LayerNormEps,
    };
}
