using System.Text.Json.Serialization;
using SonicDiffusion.Core;

namespace SonicDiffusion.Models;

/// <summary>
/// Where the gated audio cross-attention goes and its default strength (<c>adapters/config.json</c> of a model bundle).
/// Placement is either the official flags <see cref="UseAdapterList"/> = [down blocks, mid block, up blocks] (the
/// released models: [false, true, true], i.e. the mid block and every up-block transformer block: 10 sites on SD v1.4)
/// or an explicit list of transformer block paths <see cref="Sites"/>, which wins when given.
/// β is <see cref="Beta"/> for every site, or per site (<see cref="BetaSites"/>, in site order).
/// </summary>
public sealed record AudioAdapterConfig
{
    [JsonPropertyName("_class_name")] public string ClassName { get; init; } = "SonicDiffusionAudioAdapters";
    /// <summary>Official placement flags: [down blocks, mid block, up blocks].</summary>
    public bool[] UseAdapterList { get; init; } = [false, true, true];
    /// <summary>Explicit transformer block paths (overrides <see cref="UseAdapterList"/>); null = from the flags.</summary>
    public string[]? Sites { get; init; }
    /// <summary>Width of the audio tokens the adapters' k/v read; null = the UNet's cross_attention_dim (768 on SD v1).</summary>
    public int? ContextDim { get; init; }
    /// <summary>Default β for every site (the released demo: 1).</summary>
    public double Beta { get; init; } = 1.0;
    /// <summary>Default β per site, in site order; null = <see cref="Beta"/> everywhere.</summary>
    public double[]? BetaSites { get; init; }
    /// <summary>Initial γ of new adapters (diffusers port 0.1; 0 makes a new adapter an exact no-op).</summary>
    public double GateInit { get; init; } = 0.1;

    /// <summary>The released SonicDiffusion placement: mid block + all up-block transformer blocks, β = 1.</summary>
    public static AudioAdapterConfig Official { get; } = new();

    public AudioAdapterConfig Validate(string source)
    {
        if (UseAdapterList is not { Length: 3 })
            throw new SonicException($"{source}: use_adapter_list must have 3 flags [down, mid, up], got {UseAdapterList?.Length ?? 0}");
        if (Sites is { } s && (s.Length == 0 || s.Any(string.IsNullOrWhiteSpace) || s.Distinct(StringComparer.Ordinal).Count() != s.Length))
            throw new SonicException($"{source}: sites must be a non-empty list of distinct transformer block paths");
        if (ContextDim is <= 0) throw new SonicException($"{source}: context_dim {ContextDim} must be positive");
        if (!double.IsFinite(Beta)) throw new SonicException($"{source}: beta {Beta} is not a finite number");
        if (BetaSites is { } b && b.Any(x => !double.IsFinite(x))) throw new SonicException($"{source}: beta_sites holds a value that is not a finite number");
        if (!double.IsFinite(GateInit)) throw new SonicException($"{source}: gate_init {GateInit} is not a finite number");
        return this;
    }

    public static AudioAdapterConfig FromJson(string json, string source) => ConfigJson.Parse<AudioAdapterConfig>(json, source).Validate(source);

    public static AudioAdapterConfig Read(string path) => ConfigJson.Read<AudioAdapterConfig>(path).Validate(path);

    /// <summary>
    /// The sites this config places in a UNet of <paramref name="unet"/>'s config, in execution order (down, mid, up),
    /// computed from the config alone (no model is built). Explicit <see cref="Sites"/> must all exist.
    /// </summary>
    public IReadOnlyList<AdapterSite> ResolveSites(UNet2DConditionConfig unet, string source = "adapter config")
    {
        var all = AllTransformerBlocks(unet);
        if (Sites is null)
        {
            var flags = new Dictionary<string, bool> { ["down"] = UseAdapterList[0], ["mid"] = UseAdapterList[1], ["up"] = UseAdapterList[2] };
            var chosen = all.Where(s => flags[s.Region]).ToList();
            if (chosen.Count == 0) throw new SonicException($"{source}: use_adapter_list [{string.Join(", ", UseAdapterList).ToLowerInvariant()}] places no adapter in this UNet");
            return chosen;
        }
        var byPath = all.ToDictionary(s => s.Path, StringComparer.Ordinal);
        var unknown = Sites.FirstOrDefault(p => !byPath.ContainsKey(p));
        if (unknown != null)
            throw new SonicException($"{source}: site '{unknown}' is not a transformer block of this UNet (it has {all.Count}: {Describe(all.Select(a => a.Path))})");
        var set = new HashSet<string>(Sites, StringComparer.Ordinal);
        return all.Where(s => set.Contains(s.Path)).ToList();
    }

    /// <summary>Every transformer block of a diffusers SD-family UNet with the given config, in execution order.</summary>
    public static IReadOnlyList<AdapterSite> AllTransformerBlocks(UNet2DConditionConfig cfg)
    {
        var list = new List<AdapterSite>();
        int n = cfg.NumLevels;
        for (int level = 0; level < n; level++)
        {
            if (!cfg.DownHasAttention(level)) continue;
            for (int j = 0; j < cfg.LayersPerBlock; j++)
                for (int k = 0; k < cfg.TransformerLayersAt(level); k++)
                    list.Add(new AdapterSite($"down_blocks.{level}.attentions.{j}.transformer_blocks.{k}", cfg.BlockOutChannels[level], cfg.HeadsAt(level)));
        }
        for (int k = 0; k < cfg.TransformerLayersAt(n - 1); k++)
            list.Add(new AdapterSite($"mid_block.attentions.0.transformer_blocks.{k}", cfg.BlockOutChannels[n - 1], cfg.HeadsAt(n - 1)));
        for (int up = 0; up < n; up++)
        {
            if (!cfg.UpHasAttention(up)) continue;
            int level = n - 1 - up;
            for (int j = 0; j < cfg.LayersPerBlock + 1; j++)
                for (int k = 0; k < cfg.TransformerLayersAt(level); k++)
                    list.Add(new AdapterSite($"up_blocks.{up}.attentions.{j}.transformer_blocks.{k}", cfg.BlockOutChannels[level], cfg.HeadsAt(level)));
        }
        return list;
    }

    internal static string Describe(IEnumerable<string> paths, int max = 3)
    {
        var l = paths.ToList();
        return string.Join(", ", l.Take(max)) + (l.Count > max ? $" and {l.Count - max} more" : "");
    }
}
