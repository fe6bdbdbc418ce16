using SonicDiffusion.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Text;

/// <summary>HF <c>CLIPTextEmbeddings</c>: token_embedding[ids] + position_embedding[0..T-1] (no position_ids buffer is kept).</summary>
public sealed class ClipTextEmbeddings : nn.Module<Tensor, Tensor>
{
    private readonly Embedding token_embedding;
    private readonly Embedding position_embedding;
    private readonly int _maxPositions;

    public ClipTextEmbeddings(ClipTextConfig config) : base(nameof(ClipTextEmbeddings))
    {
        _maxPositions = config.MaxPositionEmbeddings;
        token_embedding = nn.Embedding(config.VocabSize, config.HiddenSize);
        position_embedding = nn.Embedding(config.MaxPositionEmbeddings, config.HiddenSize);
        RegisterComponents();
    }

    /// <summary>int64 ids [B, T] → [B, T, C].</summary>
    public override Tensor forward(Tensor ids)
    {
        long t = ids.shape[^1];
        if (t > _maxPositions) throw new SonicException($"text encoder input: {t} tokens exceed max_position_embeddings {_maxPositions}");
        using var scope = torch.NewDisposeScope();
        var positions = torch.arange(t, dtype: ScalarType.Int64, device: ids.device);
        return (token_embedding.forward(ids) + position_embedding.forward(positions)).MoveToOuterDisposeScope();
    }
}
