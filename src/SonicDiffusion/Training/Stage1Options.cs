using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Models;

namespace SonicDiffusion.Training;

/// <summary>
/// Stage 1 of SonicDiffusion (<see cref="Stage1TrainingTask"/>): the audio projector alone, loss =
/// α1·InfoNCE + α2·weighted MSE. Saved as the task config of the run and compared on resume; every ablation of the
/// paper's stage-1 table is a setting here (α1 = 0: no InfoNCE; α2 = 0: no MSE; projector audio_token_count 1: one token).
/// </summary>
public sealed record Stage1Options
{
    /// <summary>The projector; null = the official config (77 tokens, 4 blocks) with audio_dim / context_dim taken from the encoders.</summary>
    public AudioProjectorConfig? Projector { get; init; }
    /// <summary>α1, weight of the InfoNCE term (0 = the "no InfoNCE" ablation).</summary>
    public double InfoNceWeight { get; init; } = 1.0;
    /// <summary>α2, weight of the weighted MSE term (0 = the "no MSE" ablation).</summary>
    public double MseWeight { get; init; } = 0.25;
    /// <summary>Negatives per anchor, at most (official data code: 128); fewer when the step's candidates offer fewer of other classes.</summary>
    public int Negatives { get; init; } = 128;
    /// <summary>Extra entries drawn from the whole dataset per step as negative candidates (besides the batch's anchors and positives); null = <see cref="Negatives"/>.</summary>
    public int? NegativePool { get; init; }
    /// <summary>InfoNCE temperature τ (similarities are cosines of mean-pooled tokens).</summary>
    public double Temperature { get; init; } = 0.07;
    /// <summary>Token index c where the reverse-sigmoid MSE weight is ½.</summary>
    public double TokenWeightCenter { get; init; } = 20;
    /// <summary>Width s of the reverse-sigmoid fall-off (larger = flatter).</summary>
    public double TokenWeightScale { get; init; } = 4;

    [System.Text.Json.Serialization.JsonIgnore] public int PoolSize => NegativePool ?? Negatives;

    /// <summary>The projector config for encoders giving <paramref name="audioDim"/>-d embeddings and <paramref name="contextDim"/>-wide text tokens.</summary>
    public AudioProjectorConfig ProjectorFor(int audioDim, long contextDim, string source)
    {
        var p = Projector ?? new AudioProjectorConfig { AudioDim = audioDim, ContextDim = (int)contextDim };
        if (p.AudioDim != audioDim)
            throw new SonicException($"{source}: the projector reads {p.AudioDim}-d embeddings but the audio encoder gives {audioDim}-d (set \"projector\" in --config)");
        if (p.ContextDim != contextDim)
            throw new SonicException($"{source}: the projector makes {p.ContextDim}-wide tokens but the text encoder's are {contextDim}-wide (set \"projector\" in --config)");
        return p.Validate(source + ": projector");
    }

    public Stage1Options Validate()
    {
        Projector?.Validate("stage 1: projector");
        if (!(InfoNceWeight >= 0) || !(MseWeight >= 0)) throw new SonicException($"stage 1: loss weights must be >= 0 (info_nce_weight {InfoNceWeight}, mse_weight {MseWeight})");
        if (InfoNceWeight == 0 && MseWeight == 0) throw new SonicException("stage 1: info_nce_weight and mse_weight are both 0 (nothing to train)");
        if (Negatives < 1) throw new SonicException($"stage 1: negatives {Negatives} must be >= 1");
        if (NegativePool is < 0) throw new SonicException($"stage 1: negative_pool {NegativePool} must be >= 0");
        if (!(Temperature > 0)) throw new SonicException($"stage 1: temperature {Temperature} must be > 0");
        if (!(TokenWeightScale > 0)) throw new SonicException($"stage 1: token_weight_scale {TokenWeightScale} must be > 0");
        if (!double.IsFinite(TokenWeightCenter)) throw new SonicException($"stage 1: token_weight_center {TokenWeightCenter} is not finite");
        return this;
    }

    public JsonObject ToJson() => JsonSerializer.SerializeToNode(this, ConfigJson.Options)!.AsObject();
}
