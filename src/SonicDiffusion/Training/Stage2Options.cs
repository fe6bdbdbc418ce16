using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Models;

namespace SonicDiffusion.Training;

/// <summary>
/// Stage 2 of SonicDiffusion (<see cref="Stage2TrainingTask"/>): gated audio cross-attention adapters (and the
/// projector, at a smaller learning rate) on a frozen SD UNet with the DDPM ε-loss. Saved as the task config of the run
/// and compared on resume; the paper's stage-2 ablations are settings here (<see cref="FreezeProjector"/>,
/// <see cref="ProjectorSource"/> "fresh" = stage 1 skipped, <see cref="Adapters"/> sites, projector K).
/// </summary>
public sealed record Stage2Options
{
    /// <summary>Where adapters go (official: mid + up blocks) and γ's initial value (0 = exact no-op start; 0.1 = the diffusers port).</summary>
    public AudioAdapterConfig Adapters { get; init; } = AudioAdapterConfig.Official with { GateInit = 0 };
    /// <summary>Initialise each adapter's attention from its block's text cross-attention (attn2) where the shapes allow.</summary>
    public bool InitFromTextAttention { get; init; }
    /// <summary>
    /// Start every adapter from trained weights instead (a gate dict file: a bundle's <c>adapters/</c> weights or an
    /// official <c>&lt;name&gt;.pt</c>) — fine-tuning, e.g. after the base model was trained further. Null = new adapters.
    /// </summary>
    public string? InitAdapters { get; init; }
    /// <summary>Probability that a sample is conditioned on its caption; otherwise the empty prompt (official: 0.5).</summary>
    public double CaptionProbability { get; init; } = 0.5;
    /// <summary>Probability that a sample's audio is replaced by the null audio projector(0) of inference's unconditional branch.</summary>
    public double NullAudioProbability { get; init; } = 0.1;
    /// <summary>Probability of using the latent of the mirrored image (official: random horizontal flip, 0.5).</summary>
    public double FlipProbability { get; init; } = 0.5;
    /// <summary>Projector learning rate = this × the run's learning rate.</summary>
    public double ProjectorLrRatio { get; init; } = 0.1;
    /// <summary>Keep the projector frozen (the "projector frozen in stage 2" ablation).</summary>
    public bool FreezeProjector { get; init; }
    /// <summary>Where the projector came from: a stage-1 export / released file, or "fresh" (stage 1 skipped). Recorded for the run config.</summary>
    public string ProjectorSource { get; init; } = "fresh";

    public Stage2Options Validate()
    {
        Adapters.Validate("stage 2: adapters");
        foreach (var (name, p) in new[] { ("caption_probability", CaptionProbability), ("null_audio_probability", NullAudioProbability), ("flip_probability", FlipProbability) })
            if (p is < 0 or > 1 || double.IsNaN(p)) throw new SonicException($"stage 2: {name} {p} must be in [0, 1]");
        if (InitAdapters is not null && InitFromTextAttention)
            throw new SonicException("stage 2: --init-adapters and --init-from-text-attn exclude each other (the trained adapters replace any initialisation)");
        if (!(ProjectorLrRatio >= 0)) throw new SonicException($"stage 2: projector_lr_ratio {ProjectorLrRatio} must be >= 0");
        return this;
    }

    public JsonObject ToJson() => JsonSerializer.SerializeToNode(this, ConfigJson.Options)!.AsObject();

    /// <summary>
    /// Adapter placement from a site spec: comma-separated regions (<c>down</c>, <c>mid</c>, <c>up</c>), transformer block
    /// paths (<c>up_blocks.3.attentions.2.transformer_blocks.0</c>) and <c>last:N</c> (the last N transformer blocks of
    /// the decoder, e.g. last:6), in any mix. Regions alone give the official flags; anything else an explicit list.
    /// </summary>
    public static AudioAdapterConfig ParseSites(string spec, UNet2DConditionConfig unet, AudioAdapterConfig baseConfig, string option = "--sites")
    {
        var items = spec.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (items.Length == 0) throw new SonicException($"{option}: empty; give down, mid, up, last:N or transformer block paths");
        var all = AudioAdapterConfig.AllTransformerBlocks(unet);
        string[] regions = ["down", "mid", "up"];
        if (items.All(i => regions.Contains(i.ToLowerInvariant())))
        {
            var set = items.Select(i => i.ToLowerInvariant()).ToHashSet();
            return baseConfig with { UseAdapterList = [set.Contains("down"), set.Contains("mid"), set.Contains("up")], Sites = null };
        }
        var chosen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            string lower = item.ToLowerInvariant();
            if (regions.Contains(lower)) foreach (var s in all.Where(s => s.Region == lower)) chosen.Add(s.Path);
            else if (lower.StartsWith("last:", StringComparison.Ordinal))
            {
                if (!int.TryParse(lower[5..], out int n) || n <= 0) throw new SonicException($"{option}: '{item}': N of last:N must be a positive integer");
                var up = all.Where(s => s.Region == "up").ToList();
                if (n > up.Count) throw new SonicException($"{option}: '{item}': the decoder has only {up.Count} transformer blocks");
                foreach (var s in up.Skip(up.Count - n)) chosen.Add(s.Path);
            }
            else if (all.Any(s => s.Path == item)) chosen.Add(item);
            else throw new SonicException($"{option}: '{item}' is not down, mid, up, last:N or a transformer block of this UNet (e.g. {all[^1].Path})");
        }
        return baseConfig with { Sites = all.Where(s => chosen.Contains(s.Path)).Select(s => s.Path).ToArray() };
    }
}
