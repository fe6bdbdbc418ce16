using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// The ranking score of the official <c>evaluation.py</c> (AIS and IIS): for query i (an image embedding) with paired
/// embedding p_i, the fraction of the reference set R whose similarity to the query is strictly below the pair's,
/// score_i = mean_r [q_i·p_i &gt; q_i·r]; all embeddings L2-normalised, dot products in float32 as the official code
/// computes them. The metric is the mean of score_i over images.
/// </summary>
public static class PaperRanking
{
    /// <summary>Per-query scores: queries [N, D], paired [N, D], references [M, D] (all normalised here).</summary>
    public static double[] Scores(Tensor queries, Tensor paired, Tensor references)
    {
        if (queries.shape[0] != paired.shape[0]) throw new Core.SonicException($"ranking: {queries.shape[0]} queries but {paired.shape[0]} paired embeddings");
        if (queries.shape[1] != references.shape[1] || queries.shape[1] != paired.shape[1])
            throw new Core.SonicException($"ranking: embedding widths differ (queries {queries.shape[1]}, paired {paired.shape[1]}, references {references.shape[1]}); were the reference set and the models built with the same models?");
        using var scope = torch.NewDisposeScope();
        var q = ClipZeroShot.Normalize(queries.to_type(ScalarType.Float32));
        var p = ClipZeroShot.Normalize(paired.to_type(ScalarType.Float32));
        var r = ClipZeroShot.Normalize(references.to_type(ScalarType.Float32));
        var pair = (q * p).sum(new long[] { 1 }, keepdim: true);
        var random = q.matmul(r.t());
        var below = pair.gt(random).to_type(ScalarType.Float64).mean(new long[] { 1 });
        return below.data<double>().ToArray();
    }
}
