using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// Stage-1 losses of the audio projector (the paper's α1·InfoNCE + α2·MSE; the exact recipe was not released, the
/// choices here are documented in docs/sonic-training.md).
/// </summary>
public static class ProjectorLosses
{
    /// <summary>Pooled embedding of audio tokens [B, K, D]: the mean over the K tokens, L2-normalised → [B, D].</summary>
    public static Tensor Pool(Tensor tokens)
    {
        var m = tokens.mean([1]);
        return m / m.norm(-1, keepdim: true).clamp_min(1e-12);
    }

    /// <summary>
    /// InfoNCE with one positive and up to <paramref name="negatives"/> other-class negatives per anchor: with cosine
    /// similarities s (inputs already L2-normalised) and temperature τ,
    /// loss_i = −s(a_i, p_i)/τ + log(exp(s(a_i, p_i)/τ) + Σ_{j ∈ N_i} exp(s(a_i, c_j)/τ)), averaged over anchors.
    /// N_i = the candidates whose class differs from the anchor's; when there are more than <paramref name="negatives"/>,
    /// a uniformly random subset of that size (drawn from <paramref name="generator"/>). An anchor without negatives
    /// contributes 0.
    /// </summary>
    /// <param name="anchors">[B, D] normalised</param>
    /// <param name="positives">[B, D] normalised, same class as the anchor</param>
    /// <param name="candidates">[P, D] normalised negative candidates</param>
    public static Tensor InfoNce(Tensor anchors, Tensor positives, Tensor candidates, long[] anchorClass, long[] candidateClass,
        int negatives, double temperature, Generator? generator = null)
    {
        using var scope = torch.NewDisposeScope();
        var pos = (anchors * positives).sum(-1) / temperature;                                    // [B]
        var sim = anchors.matmul(candidates.t()) / temperature;                                   // [B, P]
        var ac = torch.tensor(anchorClass, dtype: ScalarType.Int64).unsqueeze(1);
        var cc = torch.tensor(candidateClass, dtype: ScalarType.Int64).unsqueeze(0);
        var valid = ac.ne(cc);                                                                    // [B, P]
        if (valid.sum(1).max().item<long>() > negatives)
        {
            var keys = torch.rand(valid.shape, generator: generator).masked_fill(valid.logical_not(), 2.0);
            var rank = keys.argsort(1).argsort(1);
            valid = valid.logical_and(rank.lt(negatives));
        }
        var logits = torch.cat([pos.unsqueeze(1), sim.masked_fill(valid.logical_not(), double.NegativeInfinity)], 1);
        return (logits.logsumexp(1) - pos).mean().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The "reverse sigmoid" token weights w_i = σ((c − i)/s) = 1 − σ((i − c)/s), i = 0..L−1: ≈ 1 for the first
    /// (content) tokens, ½ at token c, → 0 for the padding tail. [L] float32.
    /// </summary>
    public static Tensor TokenWeights(int length, double center, double scale)
    {
        var i = torch.arange(length, dtype: ScalarType.Float32);
        return torch.sigmoid((center - i) / scale);
    }

    /// <summary>
    /// Weighted MSE between audio tokens [B, K, D] and text tokens [B, L, D]:
    /// loss = Σ_k W_k · mean_d (a_k − t̄_k)² / Σ_i w_i, averaged over the batch, where the L text tokens are split into K
    /// contiguous groups g_k = [⌊kL/K⌋, ⌊(k+1)L/K⌋), t̄_k = Σ_{i∈g_k} w_i t_i / W_k and W_k = Σ_{i∈g_k} w_i. With K = L (77
    /// audio tokens) this is the per-token weighted MSE Σ_i w_i · mean_d (a_i − t_i)² / Σ_i w_i; with K = 1 the single
    /// audio token is compared with the weighted mean of the text tokens.
    /// </summary>
    public static Tensor WeightedMse(Tensor audioTokens, Tensor textTokens, Tensor weights)
    {
        using var scope = torch.NewDisposeScope();
        long k = audioTokens.shape[1], l = textTokens.shape[1];
        if (weights.shape[0] != l) throw new ArgumentException($"{weights.shape[0]} token weights for {l} text tokens");
        Tensor target, groupWeight;
        if (k == l)
        {
            target = textTokens;
            groupWeight = weights;
        }
        else
        {
            var g = torch.zeros(k, l);
            for (long j = 0; j < k; j++)
            {
                long a = j * l / k, b = Math.Max(a + 1, (j + 1) * l / k);
                g[j, TensorIndex.Slice(a, b)] = weights[TensorIndex.Slice(a, b)];
            }
            groupWeight = g.sum(1);                                                               // [K]
            target = g.matmul(textTokens) / groupWeight.clamp_min(1e-12).reshape(1, k, 1);       // [B, K, D]
        }
        var per = (audioTokens - target).square().mean([-1]);                                    // [B, K]
        return ((per * groupWeight).sum(1) / weights.sum()).mean().MoveToOuterDisposeScope();
    }
}
