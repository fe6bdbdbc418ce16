using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// The projected keys and values of cross-attentions (text <c>attn2</c> and the gated audio <c>attn_adapter</c>), kept
/// across UNet calls whose key/value source does not change — the text and audio tokens of a sampling run are the same
/// at every step, so <c>to_k</c>/<c>to_v</c> need to run once per module instead of once per step. Put it on
/// <see cref="UNetCallContext.CrossAttentionCache"/>; <see cref="AttnProcessor"/> reads it.
/// <para>Contract: one cache serves calls with the same key/value sources (same values and shapes, e.g. one guidance
/// branch group of one sampling run) and the same weights; it checks the source's shape, dtype and device, not its
/// values. Not thread-safe: give each thread its own. The cache owns its tensors (outside any dispose scope) until
/// <see cref="Clear"/> or <see cref="Dispose"/>.</para>
/// </summary>
public sealed class CrossAttentionCache : IDisposable
{
    private readonly Dictionary<Attention, Entry> _entries = new(ReferenceEqualityComparer.Instance);

    private sealed record Entry(Tensor K, Tensor V, long[] SourceShape, ScalarType Dtype, Device Device);

    /// <summary>Number of cached modules.</summary>
    public int Count => _entries.Count;

    /// <summary>Times a module's keys and values were computed, and times they were reused.</summary>
    public long Misses { get; private set; }
    public long Hits { get; private set; }

    /// <summary><c>(to_k(source), to_v(source))</c> of <paramref name="attn"/>, computed on first use. The caller must not dispose them.</summary>
    public (Tensor K, Tensor V) KeysValues(Attention attn, Tensor source)
    {
        if (_entries.TryGetValue(attn, out var e))
        {
            if (!e.SourceShape.SequenceEqual(source.shape) || e.Dtype != source.dtype || e.Device.type != source.device.type || e.Device.index != source.device.index)
                throw new InvalidOperationException($"cross-attention cache: the key/value source changed from [{string.Join(",", e.SourceShape)}] {e.Dtype} to [{string.Join(",", source.shape)}] {source.dtype}; use one cache per fixed context");
            Hits++;
            return (e.K, e.V);
        }
        var k = attn.to_k.forward(source).DetachFromDisposeScope();
        var v = attn.to_v.forward(source).DetachFromDisposeScope();
        _entries[attn] = new Entry(k, v, source.shape, source.dtype, source.device);
        Misses++;
        return (k, v);
    }

    public void Clear()
    {
        foreach (var e in _entries.Values)
        {
            e.K.Dispose();
            e.V.Dispose();
        }
        _entries.Clear();
    }

    public void Dispose() => Clear();
}
