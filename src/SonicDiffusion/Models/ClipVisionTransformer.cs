using SonicDiffusion.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// HF <c>CLIPVisionTransformer</c>: embeddings → pre_layrnorm (HF's spelling) → encoder without mask →
/// post_layernorm of the class token (the pooled output the projection takes).
/// </summary>
public sealed class ClipVisionTransformer : nn.Module<Tensor, Tensor>
{
    private readonly ClipVisionEmbeddings embeddings;
    private readonly LayerNorm pre_layrnorm;
    private readonly ClipEncoder encoder;
    private readonly LayerNorm post_layernorm;

    public ClipVisionTransformer(ClipVisionConfig config) : base(nameof(ClipVisionTransformer))
    {
        embeddings = new ClipVisionEmbeddings(config);
        pre_layrnorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        encoder = new ClipEncoder(config.ToEncoderConfig(), causal: false);
        post_layernorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        RegisterComponents();
    }

    /// <summary>Pixels [B, 3, S, S] → pooled output [B, C].</summary>
    public override Tensor forward(Tensor pixels)
    {
        using var scope = torch.NewDisposeScope();
        var h = pre_layrnorm.forward(embeddings.forward(pixels));
        h = encoder.forward(h);
        return post_layernorm.forward(h.select(1, 0)).MoveToOuterDisposeScope();
    }
}
