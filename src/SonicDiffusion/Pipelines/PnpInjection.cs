using SonicDiffusion.Core;
using SonicDiffusion.Models;
using static TorchSharp.torch;

namespace SonicDiffusion.Pipelines;

/// <summary>
/// Installs the Plug-and-Play hooks on a UNet for the life of the object (dispose removes them and restores what was
/// there): residual features of <see cref="ConvSites"/> and self-attention q/k of <see cref="AttnSites"/> are copied
/// from batch item 0 (the source branch) into every other item, at the timesteps of the respective schedule (or at
/// t = 1000, the official "always"). The current timestep is read from <see cref="UNetCallContext.Items"/>[<see cref="TimestepKey"/>].
/// <para>Sites by the official rule, stated structurally: resnets 1 and 2 of <c>up_blocks.1</c>; <c>attn1</c> of every
/// up-block attention after <c>up_blocks.1.attentions.0</c> (decoder layers 4–11 on SD v1). The feature sites can be
/// replaced by any decoder resnets (<see cref="Sites(UNet2DConditionModel, IReadOnlyList{string}?)"/>).</para>
/// </summary>
public sealed class PnpInjection : IDisposable
{
    public const string TimestepKey = "timestep";
    /// <summary><see cref="UNetCallContext.Items"/> key: true when the batch holds no source item and the source's features come from <see cref="PnpSourceFeatures"/>.</summary>
    public const string ReplayKey = "pnp_replay";

    private readonly List<(ResnetBlock2D Block, ResnetResidualHook? Previous)> _resnets = [];
    private readonly List<(Attention Attn, IAttentionProcessor Previous)> _attns = [];
    private readonly HashSet<int> _convTimesteps;
    private readonly HashSet<int> _attnTimesteps;
    private bool _disposed;

    public IReadOnlyList<string> ConvSites { get; }
    public IReadOnlyList<string> AttnSites { get; }

    /// <param name="featureSites">Decoder resnets whose residual features are injected (<c>up_blocks.B.resnets.I</c>); null = the official rule.</param>
    /// <param name="features">Where item 0's injected features are recorded, and replayed from in calls marked <see cref="ReplayKey"/>.</param>
    public PnpInjection(UNet2DConditionModel unet, IEnumerable<int> convTimesteps, IEnumerable<int> attnTimesteps, IReadOnlyList<string>? featureSites = null,
        PnpSourceFeatures? features = null)
    {
        _convTimesteps = convTimesteps.ToHashSet();
        _attnTimesteps = attnTimesteps.ToHashSet();
        var (conv, attn) = Sites(unet, featureSites);
        ConvSites = conv.Select(c => c.Name).ToArray();
        AttnSites = attn.Select(a => a.Name).ToArray();
        try
        {
            foreach (var (_, block) in conv)
            {
                var previous = block.ResidualHook;
                _resnets.Add((block, previous));
                block.ResidualHook = (b, r, ctx) =>
                {
                    if (previous != null) r = previous(b, r, ctx);
                    if (!Active(ctx, _convTimesteps)) return r;
                    if (Replaying(ctx)) return features!.Residual(Step(ctx), block).expand_as(r);
                    if (r.shape[0] < 2) return r;
                    var source = r.narrow(0, 0, 1);
                    features?.Record(Step(ctx), block, source);
                    return source.expand_as(r);
                };
            }
            var processor = new PnpAttnProcessor(ctx => Active(ctx, _attnTimesteps), features);
            foreach (var (name, a) in attn)
            {
                if (a.Processor != AttnProcessor.Default)
                    throw new SonicException($"{name}: already has a custom attention processor ({a.Processor.GetType().Name}); PnP cannot be installed on top of it");
                _attns.Add((a, a.Processor));
                a.Processor = processor;
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// The PnP sites of a UNet: the official ones (see the class summary), with <paramref name="featureSites"/> (decoder
    /// resnet names, <c>up_blocks.B.resnets.I</c>) instead of the official feature sites when given.
    /// </summary>
    public static (IReadOnlyList<(string Name, ResnetBlock2D Block)> Conv, IReadOnlyList<(string Name, Attention Attn)> Attn) Sites(
        UNet2DConditionModel unet, IReadOnlyList<string>? featureSites = null)
    {
        var conv = new List<(string, ResnetBlock2D)>();
        var attn = new List<(string, Attention)>();
        if (featureSites is not null)
            conv.AddRange(DecoderResnets(unet, featureSites));
        else if (unet.up_blocks.Count > 1)
        {
            var ub = unet.up_blocks[1];
            for (int i = 1; i <= 2 && i < ub.resnets.Count; i++) conv.Add(($"up_blocks.1.resnets.{i}", ub.resnets[i]));
        }
        for (int b = 1; b < unet.up_blocks.Count; b++)
        {
            var blk = unet.up_blocks[b];
            for (int i = b == 1 ? 1 : 0; i < blk.attentions.Count; i++)
                for (int j = 0; j < blk.attentions[i].transformer_blocks.Count; j++)
                    attn.Add(($"up_blocks.{b}.attentions.{i}.transformer_blocks.{j}.attn1", blk.attentions[i].transformer_blocks[j].attn1));
        }
        return (conv, attn);
    }

    /// <summary>Names of every decoder resnet (<c>up_blocks.B.resnets.I</c>), in UNet order: what <c>--feature-sites</c> accepts.</summary>
    public static IReadOnlyList<string> DecoderResnetNames(UNet2DConditionModel unet) =>
        Enumerable.Range(0, unet.up_blocks.Count).SelectMany(b => Enumerable.Range(0, unet.up_blocks[b].resnets.Count).Select(i => $"up_blocks.{b}.resnets.{i}")).ToList();

    /// <summary>The decoder resnets named by <paramref name="names"/> (<c>up_blocks.B.resnets.I</c>), in the given order; a name that is not one is refused, naming the ones there are.</summary>
    public static IReadOnlyList<(string Name, ResnetBlock2D Block)> DecoderResnets(UNet2DConditionModel unet, IReadOnlyList<string> names)
    {
        var all = new Dictionary<string, ResnetBlock2D>(StringComparer.Ordinal);
        for (int b = 0; b < unet.up_blocks.Count; b++)
            for (int i = 0; i < unet.up_blocks[b].resnets.Count; i++)
                all[$"up_blocks.{b}.resnets.{i}"] = unet.up_blocks[b].resnets[i];
        if (names.Count == 0) throw new SonicException("--feature-sites: no site given (name decoder resnets such as up_blocks.1.resnets.1)");
        var sites = new List<(string, ResnetBlock2D)>();
        foreach (var raw in names)
        {
            var name = raw.Trim();
            if (!all.TryGetValue(name, out var block))
                throw new SonicException($"--feature-sites '{raw}': not a decoder resnet of this UNet (it has {string.Join(", ", all.Keys)})");
            if (sites.Any(s => s.Item1 == name)) throw new SonicException($"--feature-sites: '{name}' is named twice");
            sites.Add((name, block));
        }
        return sites;
    }

    /// <summary>The first ⌊N·fraction⌋ timesteps of a descending schedule (the official <c>int(50·pnp_f_t)</c>).</summary>
    public static IReadOnlyList<int> Schedule(IReadOnlyList<int> timesteps, double fraction) =>
        timesteps.Take((int)(timesteps.Count * fraction + 1e-9)).ToArray();

    /// <summary>Whether feature (<paramref name="residuals"/>) or attention injection is active at <paramref name="t"/>.</summary>
    public bool Injects(int t, bool residuals) => t == 1000 || (residuals ? _convTimesteps : _attnTimesteps).Contains(t);

    private static bool Active(UNetCallContext? ctx, HashSet<int> schedule) =>
        ctx != null && ctx.Items.TryGetValue(TimestepKey, out var v) && v is int t && (t == 1000 || schedule.Contains(t));

    internal static bool Replaying(UNetCallContext? ctx) => ctx != null && ctx.Items.TryGetValue(ReplayKey, out var v) && v is true;

    internal static int Step(UNetCallContext? ctx) => (int)ctx!.Items[TimestepKey]!;

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var (block, previous) in _resnets) block.ResidualHook = previous;
        foreach (var (a, previous) in _attns) a.Processor = previous;
        _resnets.Clear();
        _attns.Clear();
    }
}
