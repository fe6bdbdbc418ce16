using System.Text.Json.Nodes;
using SonicDiffusion.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// SonicDiffusion stage 1: aligns the audio projector's tokens with CLIP text tokens, training only the projector on
/// cached CLAP embeddings and cached CLIP token embeddings (<see cref="SonicDataCache"/>). Per step, for the batch's
/// anchor entries (clip, crop): a positive = a random crop of a random other clip of the same class label (the same
/// clip when its class has no other); negative candidates = the batch's anchors and positives plus
/// <see cref="Stage1Options.PoolSize"/> entries drawn uniformly from the dataset; each anchor uses those of another
/// class, at most <see cref="Stage1Options.Negatives"/> (<see cref="ProjectorLosses.InfoNce"/> on mean-pooled,
/// L2-normalised tokens). The MSE compares the anchor's tokens with the CLIP tokens of its row's caption
/// (<see cref="ProjectorLosses.WeightedMse"/>, reverse-sigmoid weights). loss = α1·InfoNCE + α2·MSE.
/// </summary>
public sealed class Stage1TrainingTask : ITrainingTask, IDisposable
{
    private readonly SonicDataCache _data;
    private readonly Tensor _weights;
    private readonly int[][] _rowsByClass;

    public Stage1Options Options { get; }
    public AudioProjector Projector { get; }
    /// <summary>When set, each scheduled checkpoint logs the loss parts on a fixed probe of up to 64 entries (eval mode, EMA weights if any).</summary>
    public Action<string>? Log { get; init; }

    /// <param name="initialWeights">Optional projector state dict to start from (e.g. a released projector); null = random init.</param>
    public Stage1TrainingTask(SonicDataCache data, Stage1Options options, IReadOnlyDictionary<string, Tensor>? initialWeights = null, string initialSource = "initial projector")
    {
        Options = options.Validate();
        _data = data;
        var config = options.ProjectorFor(data.Clap.Dim, data.Tokens.Hidden, "stage 1");
        Options = options with { Projector = config };
        Projector = new AudioProjector(config);
        if (initialWeights != null) Projector.LoadWeights(initialWeights, initialSource);
        UnfreezeEffective(Projector);
        Projector.train();
        _weights = ProjectorLosses.TokenWeights((int)data.Tokens.SequenceLength, options.TokenWeightCenter, options.TokenWeightScale).DetachFromDisposeScope();
        _rowsByClass = Enumerable.Range(0, data.Labels.Count).Select(c => Enumerable.Range(0, data.Rows.Count).Where(r => data.ClassOf(r) == c).ToArray()).ToArray();
    }

    /// <summary>
    /// Makes the projector parameters that affect its output trainable and freezes the rest: in the official residual
    /// mode only the last attention block is computed, so the other blocks get no gradient and stay exactly as loaded
    /// (they are still exported, as in the released files). Returns the number of trainable tensors.
    /// </summary>
    public static int UnfreezeEffective(AudioProjector projector)
    {
        ModuleFreezer.Unfreeze(projector);
        if (projector.Config.Chained) return projector.parameters().Count();
        int last = projector.Config.TransformerLayerCount - 1, n = 0;
        foreach (var (name, p) in projector.named_parameters())
        {
            bool unused = (name.StartsWith("cross_attention.", StringComparison.Ordinal) || name.StartsWith("between_attention.", StringComparison.Ordinal))
                && int.Parse(name.Split('.')[1], System.Globalization.CultureInfo.InvariantCulture) != last;
            p.requires_grad = !unused;
            if (!unused) n++;
        }
        return n;
    }

    public long DatasetSize => _data.EntryCount;

    public IReadOnlyList<ParameterGroup> ParameterGroups => [ParameterGroup.FromModule("projector", Projector, "audio_projector.")];

    public JsonObject? Config => new() { ["kind"] = "stage1", ["options"] = Options.ToJson(), ["data"] = _data.Describe() };

    public TrainingLoss ComputeLoss(TrainingBatch batch) => Loss(batch.Indices, batch.Generator);

    private TrainingLoss Loss(long[] anchors, Generator g)
    {
        int b = anchors.Length;
        int k = _data.CropsPerClip;
        var rows = anchors.Select(_data.RowOf).ToArray();
        var entries = new List<long>(anchors);
        bool nce = Options.InfoNceWeight > 0;
        if (nce)
        {
            var r = torch.rand([b, 2], ScalarType.Float64, generator: g).data<double>().ToArray();
            for (int i = 0; i < b; i++)
            {
                var same = _rowsByClass[_data.ClassOf(rows[i])];
                int pick = rows[i];
                if (same.Length > 1)
                {
                    int j = Math.Min(same.Length - 2, (int)(r[2 * i] * (same.Length - 1)));
                    pick = same[j] >= rows[i] ? same[j + 1] : same[j];
                }
                entries.Add((long)pick * k + Math.Min(k - 1, (int)(r[2 * i + 1] * k)));
            }
            if (Options.PoolSize > 0)
                entries.AddRange(torch.randint(0, DatasetSize, [Options.PoolSize], generator: g).data<long>().ToArray());
        }
        var emb = _data.Embeddings(entries.ToArray());
        var tokens = Projector.forward(emb.unsqueeze(1));                                       // [M, K, D]
        var parts = new Dictionary<string, Tensor>();
        Tensor total = torch.zeros([]);
        if (nce)
        {
            var pooled = ProjectorLosses.Pool(tokens);
            var classes = entries.Select(e => (long)_data.ClassOf(_data.RowOf(e))).ToArray();
            var info = ProjectorLosses.InfoNce(pooled.narrow(0, 0, b), pooled.narrow(0, b, b), pooled, classes[..b], classes,
                Options.Negatives, Options.Temperature, g);
            parts["infonce"] = info;
            total = total + Options.InfoNceWeight * info;
        }
        if (Options.MseWeight > 0)
        {
            var text = _data.TextTokens(rows.Select(_data.TokenRow).ToArray());
            var mse = ProjectorLosses.WeightedMse(tokens.narrow(0, 0, b), text, _weights);
            parts["mse"] = mse;
            total = total + Options.MseWeight * mse;
        }
        return new TrainingLoss(total, parts);
    }

    /// <summary>The loss parts on <paramref name="entries"/> without grad, in eval mode, with draws from a generator seeded with <paramref name="seed"/>.</summary>
    public Dictionary<string, double> Evaluate(long[] entries, long seed = 0)
    {
        bool training = Projector.training;
        Projector.eval();
        try
        {
            using var noGrad = torch.no_grad();
            using var scope = torch.NewDisposeScope();
            using var g = new Generator((ulong)seed);
            var loss = Loss(entries, g);
            var d = loss.Parts!.ToDictionary(kv => kv.Key, kv => kv.Value.item<float>() * 1.0);
            d["loss"] = loss.Total.item<float>();
            return d;
        }
        finally { Projector.train(training); }
    }

    /// <summary>Up to <paramref name="count"/> evenly spaced entries: a fixed probe for <see cref="Evaluate"/>.</summary>
    public long[] Probe(int count = 64) =>
        Enumerable.Range(0, (int)Math.Min(count, DatasetSize)).Select(i => i * DatasetSize / Math.Min(count, DatasetSize)).ToArray();

    public void OnCheckpoint(Trainer trainer, string checkpointDirectory)
    {
        if (Log is null || !trainer.AtScheduledCheckpoint) return;
        using var ema = trainer.Ema?.SwapIn();
        var ev = Evaluate(Probe());
        Log($"step {trainer.Step}: probe " + string.Join(", ", ev.Select(kv => string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{kv.Key} {kv.Value:G5}"))));
    }

    public void Dispose()
    {
        Projector.Dispose();
        _weights.Dispose();
    }
}
