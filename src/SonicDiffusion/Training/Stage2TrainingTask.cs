using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// SonicDiffusion stage 2: the gated audio cross-attention adapters (installed here, at the sites of
/// <see cref="Stage2Options.Adapters"/>) and the projector trained on a frozen SD UNet with the DDPM ε-prediction loss
/// under the SD v1 schedule (scaled_linear 0.00085–0.012, 1000 steps) on cached VAE latents. Per sample: the latent of
/// the image or its mirror, t ~ U{0..999}, ε ~ N(0, I), the caption's cached CLIP tokens with probability
/// <see cref="Stage2Options.CaptionProbability"/> else those of "", the CLAP embedding of the entry's crop, replaced by
/// zeros with probability <see cref="Stage2Options.NullAudioProbability"/> (inference's null audio is projector(0)),
/// projected to audio tokens. loss = mean (ε̂ − ε)². Every original UNet weight is frozen (requires_grad false).
/// </summary>
public sealed class Stage2TrainingTask : ITrainingTask
{
    private readonly SonicDataCache _data;
    private readonly NoiseSchedule _schedule = new(SchedulerConfig.StableDiffusionV1);
    private readonly double _learningRate;

    public Stage2Options Options { get; }
    public UNet2DConditionModel Unet { get; }
    public AudioProjector Projector { get; }
    public AudioAdapterSet Adapters { get; }
    /// <summary>Sites of <see cref="Stage2Options.InitAdapters"/> that this UNet has no adapter for (not loaded).</summary>
    public IReadOnlyList<string> SkippedInitSites { get; } = [];
    /// <summary>When set, each scheduled checkpoint logs the ε-loss on a fixed probe of up to 16 entries (EMA weights if any) and the mean |tanh γ|.</summary>
    public Action<string>? Log { get; init; }

    /// <param name="unet">The SD UNet (frozen here; the adapters are installed into it). The caller keeps ownership.</param>
    /// <param name="projector">The projector to fine-tune (or keep frozen). The caller keeps ownership.</param>
    /// <param name="learningRate">The run's learning rate (the projector's is <see cref="Stage2Options.ProjectorLrRatio"/> × it).</param>
    public Stage2TrainingTask(SonicDataCache data, UNet2DConditionModel unet, AudioProjector projector, Stage2Options options, double learningRate)
    {
        Options = options.Validate();
        if (data.Latents is null) throw new SonicException("stage 2: the data cache has no VAE latents");
        if (data.Latents.Latents.shape[2] != unet.Config.InChannels)
            throw new SonicException($"stage 2: latents have {data.Latents.Latents.shape[2]} channels, the UNet takes {unet.Config.InChannels}");
        if (data.Tokens.Hidden != unet.Config.CrossAttentionDim)
            throw new SonicException($"stage 2: text tokens are {data.Tokens.Hidden} wide, the UNet's cross_attention_dim is {unet.Config.CrossAttentionDim}");
        if (projector.Config.AudioDim != data.Clap.Dim)
            throw new SonicException($"stage 2: the projector reads {projector.Config.AudioDim}-d embeddings, the CLAP cache holds {data.Clap.Dim}-d");
        _data = data;
        _learningRate = learningRate;
        Unet = unet;
        Projector = projector;
        ModuleFreezer.Freeze(unet);
        unet.eval();
        Adapters = AudioAdapterSet.Install(unet, options.Adapters with { ContextDim = projector.Config.ContextDim }, "stage 2 adapters");
        foreach (var p in Adapters.Parameters().Values) p.requires_grad = true;
        if (options.InitFromTextAttention) InitFromTextAttention(unet, Adapters);
        if (options.InitAdapters is { } init) SkippedInitSites = SonicDiffusionModel.LoadGateDict(Adapters, init, unet.Config, allowExtraSites: true);
        if (options.FreezeProjector) ModuleFreezer.Freeze(projector);
        else Stage1TrainingTask.UnfreezeEffective(projector);
        projector.train();
    }

    /// <summary>
    /// Copies each site's attn2 (text cross-attention) to_q / to_k / to_v / to_out.0 into its adapter attention where the
    /// shapes match (k/v match when the audio tokens are as wide as the text tokens). Returns the number of tensors copied.
    /// </summary>
    public static int InitFromTextAttention(UNet2DConditionModel unet, AudioAdapterSet adapters)
    {
        var blocks = unet.TransformerBlocks().ToDictionary(b => b.Name, b => b.Block, StringComparer.Ordinal);
        int copied = 0;
        using var noGrad = torch.no_grad();
        foreach (var a in adapters.Adapters)
        {
            var from = blocks[a.Site].attn2;
            var to = a.attn_adapter!;
            var pairs = new (Tensor? Src, Tensor? Dst)[]
            {
                (from.to_q.weight, to.to_q.weight), (from.to_k.weight, to.to_k.weight), (from.to_v.weight, to.to_v.weight),
                (((TorchSharp.Modules.Linear)from.to_out[0]).weight, ((TorchSharp.Modules.Linear)to.to_out[0]).weight), (((TorchSharp.Modules.Linear)from.to_out[0]).bias, ((TorchSharp.Modules.Linear)to.to_out[0]).bias),
            };
            foreach (var (src, dst) in pairs)
                if (src is not null && dst is not null && src.shape.SequenceEqual(dst.shape)) { dst.copy_(src); copied++; }
        }
        return copied;
    }

    public long DatasetSize => _data.EntryCount;

    public IReadOnlyList<ParameterGroup> ParameterGroups
    {
        get
        {
            var groups = new List<ParameterGroup>
            {
                new("adapters", Adapters.Parameters().Select(kv => ("adapters." + kv.Key, (TorchSharp.Modules.Parameter)kv.Value)).ToList()),
            };
            if (!Options.FreezeProjector)
                groups.Add(ParameterGroup.FromModule("projector", Projector, "audio_projector.", _learningRate * Options.ProjectorLrRatio));
            return groups;
        }
    }

    public JsonObject? Config => new()
    {
        ["kind"] = "stage2",
        ["options"] = Options.ToJson(),
        ["projector"] = System.Text.Json.JsonSerializer.SerializeToNode(Projector.Config, ConfigJson.Options),
        ["sites"] = new JsonArray(Adapters.Sites.Select(s => (JsonNode)s.Path).ToArray()),
        ["unet_sample_size"] = Unet.Config.SampleSize,
        ["data"] = _data.Describe(),
    };

    public TrainingLoss ComputeLoss(TrainingBatch batch)
    {
        var (mse, _) = Loss(batch.Indices, batch.Generator);
        return new TrainingLoss(mse, new Dictionary<string, Tensor> { ["mse"] = mse });
    }

    private (Tensor Mse, Tensor Prediction) Loss(long[] entries, Generator g)
    {
        long b = entries.Length;
        var rows = entries.Select(_data.RowOf).ToArray();
        var flip = torch.rand([b], generator: g) < Options.FlipProbability;
        var x0 = _data.LatentBatch(rows, flip);
        var dropAudio = torch.rand([b], generator: g) < Options.NullAudioProbability;
        var useCaption = (torch.rand([b], generator: g) < Options.CaptionProbability).data<bool>().ToArray();
        var emb = _data.Embeddings(entries).masked_fill(dropAudio.unsqueeze(1), 0);
        var audio = Projector.forward(emb.unsqueeze(1));
        var text = _data.TextTokens(rows.Select((r, i) => useCaption[i] ? _data.TokenRow(r) : 0L).ToArray());
        var noise = torch.randn(x0.shape, generator: g);
        var t = torch.randint(0, _schedule.NumTrainTimesteps, [b], generator: g);
        var xt = _schedule.AddNoise(x0, noise, t);
        var prediction = Unet.Forward(xt, t, text, new UNetCallContext { AudioContext = audio });
        return ((prediction - noise).square().mean(), prediction);
    }

    /// <summary>The ε-loss on <paramref name="entries"/> without grad, all draws from a generator seeded with <paramref name="seed"/> (a fixed validation probe).</summary>
    public double Evaluate(long[] entries, long seed = 0)
    {
        bool training = Projector.training;
        Projector.eval();
        try
        {
            using var noGrad = torch.no_grad();
            using var scope = torch.NewDisposeScope();
            using var g = new Generator((ulong)seed);
            return Loss(entries, g).Mse.item<float>();
        }
        finally { Projector.train(training); }
    }

    public void OnCheckpoint(Trainer trainer, string checkpointDirectory)
    {
        if (Log is null || !trainer.AtScheduledCheckpoint) return;
        using var ema = trainer.Ema?.SwapIn();
        long n = Math.Min(16, DatasetSize);
        double loss = Evaluate(Enumerable.Range(0, (int)n).Select(i => i * DatasetSize / n).ToArray());
        double gate = Adapters.Adapters.Average(a => Math.Abs(Math.Tanh(a.gate_adapter!.item<float>())));
        Log(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"step {trainer.Step}: probe ε-loss {loss:G5}, mean |tanh γ| {gate:G4}"));
    }
}
