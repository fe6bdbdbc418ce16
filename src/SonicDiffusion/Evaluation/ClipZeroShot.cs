using SonicDiffusion.Models;
using SonicDiffusion.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// Zero-shot CLIP classification as the official <c>evaluation.py</c> does it for AIC: each raw label string is the
/// text (<c>clip.tokenize(label)</c>, no prompt template), the class set is the sorted unique labels, and the prediction
/// is the label of highest cosine similarity.
/// </summary>
public static class ClipZeroShot
{
    /// <summary><c>clip.tokenize</c>: start token, ids, end token, zero padding to <paramref name="contextLength"/> (int64 [N, T]).</summary>
    public static Tensor Tokenize(ClipTokenizer tokenizer, IReadOnlyList<string> texts, int contextLength = ClipTokenizer.DefaultContextLength)
    {
        var flat = new long[texts.Count * contextLength];
        for (int i = 0; i < texts.Count; i++)
        {
            var ids = tokenizer.Encode(texts[i]);
            if (ids.Length + 2 > contextLength)
                throw new Core.SonicException($"label '{texts[i]}' is {ids.Length + 2} tokens, longer than CLIP's context length {contextLength}");
            flat[i * contextLength] = tokenizer.BosId;
            for (int k = 0; k < ids.Length; k++) flat[i * contextLength + 1 + k] = ids[k];
            flat[i * contextLength + 1 + ids.Length] = tokenizer.EosId;
        }
        return torch.tensor(flat, dtype: ScalarType.Int64).reshape(texts.Count, contextLength);
    }

    /// <summary>The class set of AIC: sorted (ordinal, as Python sorts str) unique labels.</summary>
    public static IReadOnlyList<string> ClassSet(IEnumerable<string> labels) => labels.Distinct().Order(StringComparer.Ordinal).ToList();

    /// <summary>L2-normalised text embeddings of the labels [N, D].</summary>
    public static Tensor LabelEmbeddings(ClipModel clip, ClipTokenizer tokenizer, IReadOnlyList<string> classes)
    {
        using var scope = torch.NewDisposeScope();
        using var ids = Tokenize(tokenizer, classes);
        return Normalize(clip.EncodeText(ids)).MoveToOuterDisposeScope();
    }

    /// <summary>Index of the best label for each normalised image embedding.</summary>
    public static long[] Predict(Tensor imageEmbeds, Tensor labelEmbeds)
    {
        using var scope = torch.NewDisposeScope();
        return Normalize(imageEmbeds).matmul(labelEmbeds.t()).argmax(1).data<long>().ToArray();
    }

    public static Tensor Normalize(Tensor x) => x / x.norm(1, keepdim: true);
}
