using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// Per-call state of one UNet forward, handed unchanged to every block, resnet, transformer block, block extension
/// (<see cref="ITransformerBlockExtension"/>) and attention processor (<see cref="IAttentionProcessor"/>). It carries
/// extra conditioning (the audio tokens of the gated audio cross-attention), per-call values for hooks (e.g. the
/// current timestep of a PnP injection schedule) and an optional capture of intermediates, so none of these needs a
/// different UNet.
/// </summary>
public sealed class UNetCallContext
{
    /// <summary>Audio tokens [B, M, C] read by block extensions; null = no audio (extensions are skipped).</summary>
    public Tensor? AudioContext { get; set; }

    /// <summary>β, the audio strength multiplier applied by block extensions (1 = the released demo).</summary>
    public double AudioScale { get; set; } = 1.0;

    /// <summary>
    /// Per-site β, keyed by the transformer block path of an adapter site (e.g.
    /// <c>up_blocks.1.attentions.0.transformer_blocks.0</c>); a site not in the map uses <see cref="AudioScale"/>.
    /// </summary>
    public IReadOnlyDictionary<string, double>? AudioScales { get; set; }

    /// <summary>β for the adapter at <paramref name="site"/>.</summary>
    public double AudioScaleFor(string site) => AudioScales != null && AudioScales.TryGetValue(site, out var b) ? b : AudioScale;

    /// <summary>
    /// When set, the UNet stores intermediates here under CompVis names: <c>t_emb</c>, <c>emb</c>,
    /// <c>input_blocks.&lt;i&gt;</c> (each skip tensor), <c>middle_block</c>, <c>output_blocks.&lt;i&gt;</c>. They are
    /// detached copies outside any dispose scope; the caller disposes them.
    /// </summary>
    public Dictionary<string, Tensor>? Debug { get; set; }

    /// <summary>
    /// Keys and values of the cross-attentions kept from earlier calls with the same text and audio tokens (a sampling
    /// run sets it per branch group); null = computed in every call.
    /// </summary>
    public CrossAttentionCache? CrossAttentionCache { get; set; }

    /// <summary>Free-form per-call values for hooks and extensions.</summary>
    public Dictionary<string, object> Items { get; } = new();

    internal void Capture(string name, Tensor t)
    {
        if (Debug == null) return;
        if (Debug.Remove(name, out var old)) old.Dispose();
        Debug[name] = t.detach().clone().DetachFromDisposeScope();
    }
}
