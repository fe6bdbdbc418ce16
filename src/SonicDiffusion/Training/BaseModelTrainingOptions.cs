using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Models;
using SonicDiffusion.Text;

namespace SonicDiffusion.Training;

/// <summary>
/// What <see cref="BaseModelTrainingTask"/> trains: a small SD v1-structured UNet on 16×16×4 latents (cross-attention
/// at the 16×16 and 8×8 levels and in the 4×4 mid block, self-attention therefore at most over 256 tokens) and a small
/// CLIP text encoder whose width is the UNet's cross_attention_dim, trained jointly from scratch (LDM-style) with the
/// real SD v1 tokenizer. Saved as the task config of the run and compared on resume.
/// </summary>
public sealed record BaseModelTrainingOptions
{
    /// <summary>5.84 M parameters (11.7 MB as float16).</summary>
    public static UNet2DConditionConfig DefaultUnet => new()
    {
        SampleSize = 16,
        InChannels = 4,
        OutChannels = 4,
        BlockOutChannels = [64, 128, 128],
        LayersPerBlock = 1,
        DownBlockTypes = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"],
        UpBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
        AttentionHeadDim = [2, 4, 4],
        CrossAttentionDim = 64,
        NormNumGroups = 32,
    };

    /// <summary>
    /// Width 64, 3 layers, 4 heads: 3.32 M parameters (6.6 MB as float16), 3.16 M of them the 49408-token embedding
    /// the real vocabulary needs.
    /// </summary>
    public static ClipTextConfig DefaultText => new()
    {
        HiddenSize = 64,
        NumHiddenLayers = 3,
        NumAttentionHeads = 4,
        IntermediateSize = 256,
    };

    public UNet2DConditionConfig Unet { get; init; } = DefaultUnet;
    public ClipTextConfig Text { get; init; } = DefaultText;
    /// <summary>Probability that a caption is replaced by the empty prompt (so classifier-free guidance has an unconditional branch).</summary>
    public double CaptionDropout { get; init; } = 0.1;
    /// <summary>Probability of using the latent of the mirrored image.</summary>
    public double FlipProbability { get; init; } = 0.5;
    /// <summary>Learning rate of the text encoder; null = the run's learning rate.</summary>
    public double? TextLearningRate { get; init; }
    /// <summary>
    /// A trained model folder (unet/, text_encoder/) to distil from, or null. The run then keeps the teacher's text
    /// encoder, frozen (so audio encoders and projectors aligned to it stay valid), starts every UNet tensor whose
    /// name and shape the teacher has from the teacher's value, and adds
    /// <see cref="DistillationWeight"/> × mean (ε̂ − ε̂_teacher)² to the ε-loss.
    /// </summary>
    public string? Teacher { get; init; }
    /// <summary>null = 1. (Options left at null stay out of the saved run config, so runs saved before they existed still resume.)</summary>
    public double? DistillationWeight { get; init; }
    /// <summary>
    /// Probability that a caption is replaced by a random span of 1–<see cref="MaxFragmentWords"/> of its words: the
    /// image still fits it, and with a teacher the student also learns the teacher's answer to short prompts.
    /// </summary>
    public double? FragmentProbability { get; init; }
    public const int MaxFragmentWords = 4;

    public BaseModelTrainingOptions Validate()
    {
        Unet.Validate("UNet model config");
        Text.Validated("text encoder config");
        if (Unet.CrossAttentionDim != Text.HiddenSize)
            throw new SonicException($"base model: UNet cross_attention_dim {Unet.CrossAttentionDim} must equal the text encoder's hidden_size {Text.HiddenSize}");
        if (CaptionDropout is < 0 or > 1) throw new SonicException($"base model: caption dropout {CaptionDropout} must be in [0, 1]");
        if (FlipProbability is < 0 or > 1) throw new SonicException($"base model: flip probability {FlipProbability} must be in [0, 1]");
        if (TextLearningRate is { } lr && !(lr >= 0)) throw new SonicException($"base model: text learning rate {lr} must be >= 0");
        if (FragmentProbability is < 0 or > 1 or double.NaN) throw new SonicException($"base model: fragment probability {FragmentProbability} must be in [0, 1]");
        if (DistillationWeight is { } w && !(w >= 0)) throw new SonicException($"base model: distillation weight {DistillationWeight} must be >= 0");
        if (Teacher is not null && TextLearningRate is not null)
            throw new SonicException("base model: a teacher's text encoder stays frozen; --text-lr does not apply");
        return this;
    }

    public JsonObject ToJson() => JsonSerializer.SerializeToNode(this, ConfigJson.Options)!.AsObject();
}
