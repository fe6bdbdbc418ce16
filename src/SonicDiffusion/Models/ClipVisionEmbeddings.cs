using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>HF <c>CLIPVisionEmbeddings</c>: [class_embedding; patch_embedding(x) as tokens] + position_embedding.</summary>
public sealed class ClipVisionEmbeddings : nn.Module<Tensor, Tensor>
{
    private readonly Parameter class_embedding;
    private readonly Conv2d patch_embedding;
    private readonly Embedding position_embedding;
    private readonly int _imageSize;

    public ClipVisionEmbeddings(ClipVisionConfig config) : base(nameof(ClipVisionEmbeddings))
    {
        _imageSize = config.ImageSize;
        class_embedding = new Parameter(torch.zeros(config.HiddenSize));
        patch_embedding = nn.Conv2d(config.NumChannels, config.HiddenSize, config.PatchSize, stride: config.PatchSize, bias: false);
        position_embedding = nn.Embedding(config.NumPositions, config.HiddenSize);
        RegisterComponents();
    }

    /// <summary>Pixels [B, 3, S, S] (S = image_size, CLIP-normalised) → tokens [B, 1 + (S/P)², C].</summary>
    public override Tensor forward(Tensor pixels)
    {
        if (pixels.dim() != 4 || pixels.shape[2] != _imageSize || pixels.shape[3] != _imageSize)
            throw new Core.SonicException($"CLIP vision input: expected [B, 3, {_imageSize}, {_imageSize}], got [{string.Join(", ", pixels.shape)}]");
        using var scope = torch.NewDisposeScope();
        var patches = patch_embedding.forward(pixels).flatten(2).transpose(1, 2);
        var cls = class_embedding.expand(patches.shape[0], 1, -1);
        var h = torch.cat(new[] { cls, patches }, 1);
        return (h + position_embedding.weight!).MoveToOuterDisposeScope();
    }
}
