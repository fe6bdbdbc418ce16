using SonicDiffusion.Core;
using SonicDiffusion.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// The gated audio cross-attention adapters installed in one UNet (<see cref="GatedAudioAttention"/> at every site of
/// an <see cref="AudioAdapterConfig"/>). Their tensors are named exactly as in the released gate dicts
/// (<c>ckpts/landscape.pt</c>: <c>&lt;site&gt;.attn_adapter.to_q.weight</c> ... <c>&lt;site&gt;.gate_adapter</c>, 8 per site,
/// 80 on SD v1.4); they are UNet parameters and move with the UNet.
/// </summary>
public sealed class AudioAdapterSet
{
    public AudioAdapterConfig Config { get; }
    public IReadOnlyList<AdapterSite> Sites { get; }
    public IReadOnlyList<GatedAudioAttention> Adapters { get; }
    public long ContextDim { get; }

    private AudioAdapterSet(AudioAdapterConfig config, IReadOnlyList<AdapterSite> sites, IReadOnlyList<GatedAudioAttention> adapters, long contextDim)
    {
        Config = config;
        Sites = sites;
        Adapters = adapters;
        ContextDim = contextDim;
    }

    /// <summary>Installs a new adapter at every site of <paramref name="config"/> (at most once per UNet).</summary>
    public static AudioAdapterSet Install(UNet2DConditionModel unet, AudioAdapterConfig config, string source = "adapter config")
    {
        config.Validate(source);
        var sites = config.ResolveSites(unet.Config, source);
        var blocks = unet.TransformerBlocks().ToDictionary(b => b.Name, b => b.Block, StringComparer.Ordinal);
        long contextDim = config.ContextDim ?? unet.Config.CrossAttentionDim;
        var adapters = new List<GatedAudioAttention>();
        foreach (var site in sites)
        {
            if (!blocks.TryGetValue(site.Path, out var block))
                throw new SonicException($"{source}: site '{site.Path}' is not a transformer block of this UNet");
            if (block.Extension != null)
                throw new SonicException($"{source}: transformer block '{site.Path}' already has an extension (adapters installed twice?)");
            var adapter = new GatedAudioAttention(site.Path, contextDim, config.GateInit);
            block.SetExtension(adapter);
            adapters.Add(adapter);
        }
        return new AudioAdapterSet(config, sites, adapters, contextDim);
    }

    /// <summary>Gate-dict names and shapes for adapters at <paramref name="sites"/> reading <paramref name="contextDim"/>-wide audio tokens.</summary>
    public static IReadOnlyDictionary<string, long[]> ExpectedShapes(IEnumerable<AdapterSite> sites, long contextDim)
    {
        var d = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var s in sites)
        {
            long c = s.Channels;
            d[$"{s.Path}.attn_adapter.to_q.weight"] = [c, c];
            d[$"{s.Path}.attn_adapter.to_k.weight"] = [c, contextDim];
            d[$"{s.Path}.attn_adapter.to_v.weight"] = [c, contextDim];
            d[$"{s.Path}.attn_adapter.to_out.0.weight"] = [c, c];
            d[$"{s.Path}.attn_adapter.to_out.0.bias"] = [c];
            d[$"{s.Path}.norm_adapter.weight"] = [c];
            d[$"{s.Path}.norm_adapter.bias"] = [c];
            d[$"{s.Path}.gate_adapter"] = [1];
        }
        return d;
    }

    /// <summary>Number of tensors of a gate dict for this placement (8 per site).</summary>
    public int TensorCount => Sites.Count * GatedAudioAttention.TensorNames.Count;

    /// <summary>The adapter parameters under their gate-dict names (the live parameters, not copies).</summary>
    public IReadOnlyDictionary<string, Tensor> Parameters()
    {
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var a in Adapters)
        {
            var attn = a.attn_adapter!;
            d[$"{a.Site}.attn_adapter.to_q.weight"] = attn.to_q.weight!;
            d[$"{a.Site}.attn_adapter.to_k.weight"] = attn.to_k.weight!;
            d[$"{a.Site}.attn_adapter.to_v.weight"] = attn.to_v.weight!;
            var outProj = (TorchSharp.Modules.Linear)attn.to_out[0];
            d[$"{a.Site}.attn_adapter.to_out.0.weight"] = outProj.weight!;
            d[$"{a.Site}.attn_adapter.to_out.0.bias"] = outProj.bias!;
            d[$"{a.Site}.norm_adapter.weight"] = a.norm_adapter!.weight!;
            d[$"{a.Site}.norm_adapter.bias"] = a.norm_adapter!.bias!;
            d[$"{a.Site}.gate_adapter"] = a.gate_adapter!;
        }
        return d;
    }

    /// <summary>Transformer block paths that tensor names (gate-dict keys, diffusers naming) put adapters in, in first-seen order.</summary>
    public static IReadOnlyList<string> SitesOf(IEnumerable<string> names)
    {
        var seen = new List<string>();
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, site) in SitesOfEach(names))
            if (site is not null && set.Add(site)) seen.Add(site);
        return seen;
    }

    /// <summary>Each tensor name with the adapter site it belongs to (null: not an adapter tensor).</summary>
    private static IEnumerable<(string Name, string? Site)> SitesOfEach(IEnumerable<string> names)
    {
        foreach (var n in names)
        {
            int i = n.IndexOf("." + GatedAudioAttention.AttnName + ".", StringComparison.Ordinal);
            if (i < 0) i = n.IndexOf("." + GatedAudioAttention.NormName + ".", StringComparison.Ordinal);
            if (i < 0 && n.EndsWith("." + GatedAudioAttention.GateName, StringComparison.Ordinal)) i = n.Length - GatedAudioAttention.GateName.Length - 1;
            yield return (n, i < 0 ? null : n[..i]);
        }
    }

    /// <summary>
    /// Copies a gate dict (diffusers names, see <see cref="CheckpointConverter.GateDictToDiffusers"/>) into the adapters.
    /// A dict whose adapters sit at other transformer blocks than this placement (e.g. a different number of sites), or
    /// with missing or wrongly shaped tensors, is refused with one line naming <paramref name="source"/>.
    /// </summary>
    public void LoadWeights(IReadOnlyDictionary<string, Tensor> gateDict, string source) => LoadWeights(gateDict, source, allowExtraSites: false);

    /// <summary>
    /// Loads the adapters from a gate dict; with <paramref name="allowExtraSites"/> the dict may hold more sites than
    /// are installed (a fine-tune of a model that has fewer transformer blocks): those are skipped and returned.
    /// </summary>
    public IReadOnlyList<string> LoadWeights(IReadOnlyDictionary<string, Tensor> gateDict, string source, bool allowExtraSites)
    {
        var theirs = SitesOf(gateDict.Keys);
        var ours = Sites.Select(s => s.Path).ToList();
        var skipped = new List<string>();
        if (allowExtraSites && ours.All(theirs.Contains))
        {
            skipped.AddRange(theirs.Except(ours, StringComparer.Ordinal));
            var keep = ours.ToHashSet(StringComparer.Ordinal);
            var kept = SitesOfEach(gateDict.Keys).Where(kv => kv.Site is null || keep.Contains(kv.Site)).Select(kv => kv.Name).ToHashSet(StringComparer.Ordinal);
            gateDict = gateDict.Where(kv => kept.Contains(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value);
            theirs = ours;
        }
        if (!theirs.ToHashSet(StringComparer.Ordinal).SetEquals(ours))
        {
            var extra = theirs.Except(ours, StringComparer.Ordinal).ToList();
            var missing = ours.Except(theirs, StringComparer.Ordinal).ToList();
            var detail = new List<string>();
            if (missing.Count > 0) detail.Add($"missing {AudioAdapterConfig.Describe(missing, 2)}");
            if (extra.Count > 0) detail.Add($"extra {AudioAdapterConfig.Describe(extra, 2)}");
            throw new SonicException($"{source}: adapter weights for {theirs.Count} sites, but the model places adapters at {ours.Count} sites ({PlacementText()}): {string.Join("; ", detail)}");
        }
        var targets = Parameters();
        var unexpected = gateDict.Keys.Where(k => !targets.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var missingKeys = targets.Keys.Where(k => !gateDict.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var wrong = targets.Where(kv => gateDict.TryGetValue(kv.Key, out var w) && !w.shape.SequenceEqual(kv.Value.shape))
            .Select(kv => $"{kv.Key} [{string.Join(",", gateDict[kv.Key].shape)}] expected [{string.Join(",", kv.Value.shape)}]").ToList();
        var report = new LoadReport(missingKeys, unexpected, wrong);
        if (!report.IsComplete) throw new SonicException($"{source}: gate dict does not match the adapters ({report.Describe(3)})");
        using var _ = torch.no_grad();
        foreach (var (k, t) in targets) t.copy_(gateDict[k]);
        return skipped;
    }

    /// <summary>What places the adapters, for messages: the flags or the explicit list.</summary>
    public string PlacementText()
    {
        if (Config.Sites != null) return "explicit site list";
        var parts = new List<string>();
        if (Config.UseAdapterList[0]) parts.Add("down");
        if (Config.UseAdapterList[1]) parts.Add("mid");
        if (Config.UseAdapterList[2]) parts.Add("up");
        return "transformer blocks of " + string.Join(" + ", parts) + " blocks";
    }

    /// <summary>
    /// β per site for a call: <paramref name="perSite"/> (one value per site, in <see cref="Sites"/> order) if given,
    /// else <paramref name="beta"/> everywhere. Throws naming <paramref name="option"/> on a wrong count.
    /// </summary>
    public IReadOnlyDictionary<string, double> BetaMap(double beta, IReadOnlyList<double>? perSite, string option = "--beta-sites")
    {
        if (perSite != null && perSite.Count != Sites.Count)
            throw new SonicException($"{option}: {perSite.Count} values for {Sites.Count} adapter sites ({AudioAdapterConfig.Describe(Sites.Select(s => s.Path), 2)}); give one per site in that order");
        var map = new Dictionary<string, double>(StringComparer.Ordinal);
        for (int i = 0; i < Sites.Count; i++) map[Sites[i].Path] = perSite?[i] ?? beta;
        return map;
    }

    /// <summary>Copies of the adapter tensors (CPU, <paramref name="dtype"/> or their own dtype) under gate-dict names.</summary>
    public Dictionary<string, Tensor> ExportTensors(ScalarType? dtype = null)
    {
        var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, t) in Parameters())
        {
            using var scope = torch.NewDisposeScope();
            var c = t.detach().cpu();
            d[k] = (dtype is { } dt ? c.to_type(dt) : c).contiguous().clone().DetachFromDisposeScope();
        }
        return d;
    }

    /// <summary>Writes the gate dict: a <c>torch.save</c> zip (.pt/.pth/.ckpt/.bin, as the released files) or safetensors.</summary>
    public void Save(string path, ScalarType? dtype = null)
    {
        var tensors = ExportTensors(dtype);
        try { TensorFileWriter.Write(path, tensors); }
        finally { foreach (var t in tensors.Values) t.Dispose(); }
    }
}
