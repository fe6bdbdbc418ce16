using System.Globalization;
using System.Text.Json.Nodes;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// Trains a <see cref="ClapAudioEncoder"/> from scratch, CLAP-style: symmetric InfoNCE between the L2-normalised audio
/// embedding of each cached log-mel crop and the L2-normalised (optionally linearly projected) pooled embedding of its
/// caption under a FROZEN text encoder (pooled once, before training). Logits = exp(logit_scale)·a·tᵀ. Entries whose
/// captions are identical (two crops of one clip, or two clips with the same caption) are all positives of each other:
/// the target of a row is uniform over them. The audio encoder trains with its own BatchNorm statistics (checkpointed)
/// and CLAP's dropouts; its AudioSet head (<c>base.fc_audioset</c>) is not part of the loss and stays at its
/// initialisation. At each checkpoint the log reports caption-retrieval class agreement on a fixed subset.
/// </summary>
public sealed class ClapTrainingTask : ITrainingTask, IDisposable
{
    private readonly MelCache _mels;
    private readonly Tensor _pooled;
    private readonly long[] _captionIds;
    private readonly Action<string>? _log;

    public ClapTrainingOptions Options { get; }
    public ClapAudioEncoder Audio { get; }
    public ClapTextHead TextHead { get; }

    /// <param name="mels">The log-mel cache (rows = clips).</param>
    /// <param name="pooledCaptions">Frozen pooled caption embedding of each clip of <paramref name="mels"/>, [clips, width].</param>
    public ClapTrainingTask(MelCache mels, Tensor pooledCaptions, ClapTrainingOptions options, Action<string>? log = null)
    {
        Options = options.Validate();
        if (pooledCaptions.shape[0] != mels.Rows.Count)
            throw new Core.SonicException($"CLAP training: {pooledCaptions.shape[0]} caption embeddings for {mels.Rows.Count} clips");
        if (mels.MelBins != options.Model.MelBins)
            throw new Core.SonicException($"CLAP training: the mel cache has {mels.MelBins} mel bins, the encoder takes {options.Model.MelBins}");
        _mels = mels;
        _log = log;
        _pooled = pooledCaptions.detach().to_type(ScalarType.Float32).clone().DetachFromDisposeScope();
        var ids = new Dictionary<string, long>(StringComparer.Ordinal);
        _captionIds = mels.Rows.Select(r => ids.TryGetValue(r.Caption, out var id) ? id : ids[r.Caption] = ids.Count).ToArray();
        Audio = new ClapAudioEncoder(options.Model);
        foreach (var (name, module) in Audio.named_modules())
            if (name.EndsWith("fc_audioset", StringComparison.Ordinal)) ModuleFreezer.Freeze(module);
        Audio.train();
        TextHead = new ClapTextHead(_pooled.shape[1], options.Model.DProj, options.InitialTemperature, options.LearnTemperature);
    }

    /// <summary>
    /// Starts the audio encoder from a trained one (an audio_encoder/ folder of the same Cnn14 config and front end), for
    /// fine-tuning; the text head stays freshly initialised. A resumed run's checkpoint replaces these weights.
    /// </summary>
    public void InitAudioEncoder(string dir)
    {
        var (config, frontEnd) = ClapEmbeddingCache.ReadConfig(dir);
        string Json(object o) => System.Text.Json.JsonSerializer.Serialize(o, Core.ConfigJson.Options);
        if (Json(config) != Json(Options.Model))
            throw new Core.SonicException($"{dir}: its audio encoder config differs from the one being trained (--init needs the same Cnn14 sizes)");
        if (Json(frontEnd) != Json(Options.FrontEnd))
            throw new Core.SonicException($"{dir}: its front end differs from the one being trained ({Json(frontEnd)})");
        var (encoder, _) = ClapEmbeddingCache.LoadEncoder(dir);
        using (encoder)
        using (torch.no_grad())
        {
            var source = encoder.state_dict();
            foreach (var (name, tensor) in Audio.state_dict())
            {
                if (!source.TryGetValue(name, out var from)) throw new Core.SonicException($"{dir}: no tensor '{name}' in its audio encoder");
                tensor.copy_(from.to_type(tensor.dtype));
            }
        }
        _log?.Invoke($"train clap: the audio encoder starts from {dir}");
    }

    /// <summary>Pooled embeddings (final LayerNorm output at the end token) of <paramref name="captions"/> under a frozen text encoder.</summary>
    public static Tensor PoolCaptions(ClipTextModel text, ClipTokenizer tokenizer, IReadOnlyList<string> captions, int batchSize = 64)
    {
        using var noGrad = torch.no_grad();
        text.eval();
        var parts = new List<Tensor>();
        for (int s = 0; s < captions.Count; s += batchSize)
        {
            using var scope = torch.NewDisposeScope();
            var ids = tokenizer.EncodeBatch(captions.Skip(s).Take(batchSize).ToList(), text.Config.MaxPositionEmbeddings);
            using var output = text.Run(ids);
            parts.Add(output.PoolerOutput.clone().MoveToOuterDisposeScope());
        }
        var all = torch.cat(parts, 0);
        foreach (var p in parts) p.Dispose();
        return all;
    }

    public long DatasetSize => _mels.Count;

    public IReadOnlyList<ParameterGroup> ParameterGroups
    {
        get
        {
            var groups = new List<ParameterGroup> { ParameterGroup.FromModule("audio_encoder", Audio, "audio_encoder.") };
            var head = TextHead.named_parameters().Where(p => p.name != "logit_scale" && p.parameter.requires_grad)
                .Select(p => ("text_head." + p.name, p.parameter)).ToList();
            if (head.Count > 0) groups.Add(new ParameterGroup("text_head", head));
            if (TextHead.logit_scale.requires_grad)
                groups.Add(new ParameterGroup("logit_scale", [("text_head.logit_scale", TextHead.logit_scale)], WeightDecay: 0));
            return groups;
        }
    }

    public JsonObject? Config => new()
    {
        ["kind"] = "clap",
        ["options"] = Options.ToJson(),
        ["mels"] = _mels.Describe(),
        ["text_width"] = _pooled.shape[1],
    };

    public IEnumerable<(string Name, Tensor Tensor)> StateBuffers => Audio.named_buffers().Select(b => ("audio_encoder." + b.name, b.buffer));

    public TrainingLoss ComputeLoss(TrainingBatch batch)
    {
        var clips = batch.Indices.Select(e => (long)_mels.ClipOf(e)).ToArray();
        var a = EmbedAudio(_mels.Read(batch.Indices));
        var t = TextHead.forward(_pooled.index_select(0, torch.tensor(clips, dtype: ScalarType.Int64)));
        var logits = TextHead.Scale() * a.matmul(t.t());
        var captionIds = torch.tensor(clips.Select(c => _captionIds[c]).ToArray(), dtype: ScalarType.Int64);
        var same = captionIds.unsqueeze(1).eq(captionIds.unsqueeze(0)).to_type(ScalarType.Float32);
        var target = same / same.sum(1, keepdim: true);
        var audioToText = -(target * logits.log_softmax(1)).sum(1).mean();
        var textToAudio = -(target * logits.t().log_softmax(1)).sum(1).mean();
        var loss = (audioToText + textToAudio) * 0.5;
        var hit = same.gather(1, logits.argmax(1, keepdim: true)).mean();
        return new TrainingLoss(loss, new Dictionary<string, Tensor> { ["batch_acc"] = hit, ["scale"] = TextHead.Scale().detach() });
    }

    /// <summary>
    /// The encoder's projection, L2-normalised as F.normalize does (norm clamped to 1e-12): with CLAP's dropout on a
    /// narrow embedding a sample's projection can be exactly zero during training, which must give 0, not NaN.
    /// </summary>
    private Tensor EmbedAudio(Tensor mel)
    {
        var o = Audio.Encode(mel);
        return o.Projected / o.Projected.norm(-1, keepdim: true).clamp_min(1e-12);
    }

    /// <summary>
    /// Caption retrieval on up to <paramref name="maxClips"/> evenly spaced clips (crop 0, eval mode): the fraction whose
    /// nearest caption among those clips' captions belongs to a clip of the same class label.
    /// </summary>
    public double RetrievalClassAgreement(int maxClips = 256, int batchSize = 32)
    {
        using var noGrad = torch.no_grad();
        bool training = Audio.training;
        Audio.eval();
        try
        {
            int n = _mels.Rows.Count, k = Math.Min(maxClips, n);
            var clips = Enumerable.Range(0, k).Select(i => (long)i * n / k).ToArray();
            using var scope = torch.NewDisposeScope();
            var audio = torch.cat(clips.Chunk(batchSize).Select(c => EmbedAudio(_mels.Read(c.Select(x => x * _mels.CropsPerClip).ToArray()))).ToArray(), 0);
            var text = TextHead.forward(_pooled.index_select(0, torch.tensor(clips, dtype: ScalarType.Int64)));
            var nearest = audio.matmul(text.t()).argmax(1).data<long>().ToArray();
            int agree = Enumerable.Range(0, k).Count(i => _mels.Rows[(int)clips[i]].Label == _mels.Rows[(int)clips[nearest[i]]].Label);
            return agree / (double)k;
        }
        finally { Audio.train(training); }
    }

    public void OnCheckpoint(Trainer trainer, string checkpointDirectory)
    {
        if (!trainer.AtScheduledCheckpoint) return;
        using var ema = trainer.Ema?.SwapIn();
        double agreement = RetrievalClassAgreement();
        _log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"step {trainer.Step}: caption retrieval class agreement {agreement:P1} ({Math.Min(256, _mels.Rows.Count)} clips)"));
    }

    /// <summary>Writes the audio_encoder/ folder and, next to it, the text head (EMA weights when the run has them).</summary>
    public void Export(Trainer trainer, string dir, string textHeadPath, ScalarType dtype = ScalarType.Float16)
    {
        using var ema = trainer.Ema?.SwapIn();
        ModelExport.WriteAudioEncoder(Audio, Options.FrontEnd, dir, dtype);
        ModelExport.WriteWeights(TextHead, textHeadPath, ScalarType.Float32, metadata: new Dictionary<string, string>
        {
            ["description"] = "CLAP-style text head: projection (pooled text → audio embedding width) and logit_scale",
        });
    }

    public void Dispose()
    {
        Audio.Dispose();
        TextHead.Dispose();
        _pooled.Dispose();
    }
}
