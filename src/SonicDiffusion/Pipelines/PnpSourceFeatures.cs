using SonicDiffusion.Models;
using static TorchSharp.torch;

namespace SonicDiffusion.Pipelines;

/// <summary>
/// The source branch's PnP features of one inversion — the residuals of the feature sites and the self-attention q/k of
/// the attention sites, per timestep — recorded while an edit runs the batch [source, uncond, cond] and replayed by later
/// edits of the same source, which then run only [uncond, cond] at those timesteps. The source branch sees neither the
/// prompt nor the sound (CLIP(""), null audio), so its features depend only on the inversion, the audio strength β (the
/// adapters still run on null audio), whether audio is used at all, and the feature sites: a request that differs in one
/// of these clears what was recorded. For one photo edited with many sounds (`sonic edit --audio DIR`, `sonic eval edit`).
/// Holds its tensors outside every dispose scope until disposed: at SD v1 size (512², float32) about 55 MB per injected
/// timestep by the tensor shapes, 2.2 GB for the official 40 of 50.
/// </summary>
public sealed class PnpSourceFeatures(string? sourceId = null) : IDisposable
{
    /// <summary>
    /// The inversion these features belong to, when the caller names it (e.g. its <see cref="InversionCache"/> key): then
    /// every chain of that inversion is accepted (a cached inversion is loaded as new tensors each time); without it only
    /// the very chain the features were recorded from.
    /// </summary>
    public string? SourceId { get; } = sourceId;

    private readonly Dictionary<(int T, ResnetBlock2D Block), Tensor> _residuals = [];
    private readonly Dictionary<(int T, Attention Attn), Tensor> _queries = [];
    private readonly Dictionary<(int T, Attention Attn), Tensor> _keys = [];
    private readonly HashSet<int> _residualSteps = [];
    private readonly HashSet<int> _attentionSteps = [];
    private IReadOnlyList<Tensor>? _chain;
    private string? _key;

    /// <summary>Timesteps whose features are held (residuals or q/k).</summary>
    public int Steps => _residualSteps.Union(_attentionSteps).Count();

    /// <summary>Forgets what was recorded when the inversion <paramref name="chain"/> or <paramref name="key"/> (the rest of what the source features depend on) changed.</summary>
    internal void Bind(IReadOnlyList<Tensor> chain, string key)
    {
        if ((SourceId is not null || ReferenceEquals(_chain, chain)) && _key == key) return;
        Clear();
        _chain = chain;
        _key = key;
    }

    /// <summary>Timesteps at which an edit ran without the source branch, its features replayed from here.</summary>
    public int ReplayedSteps { get; private set; }

    /// <summary>Whether every feature an edit needs at <paramref name="t"/> is held (and so replayed: counted).</summary>
    internal bool TryReplay(int t, bool residuals, bool attention)
    {
        bool held = (!residuals || _residualSteps.Contains(t)) && (!attention || _attentionSteps.Contains(t));
        if (held) ReplayedSteps++;
        return held;
    }

    /// <summary>Marks <paramref name="t"/> recorded after the batch-3 call that recorded it.</summary>
    internal void Complete(int t, bool residuals, bool attention)
    {
        if (residuals) _residualSteps.Add(t);
        if (attention) _attentionSteps.Add(t);
    }

    internal void Record(int t, ResnetBlock2D block, Tensor residual) => Keep(_residuals, (t, block), residual);

    internal void Record(int t, Attention attn, Tensor q, Tensor k)
    {
        Keep(_queries, (t, attn), q);
        Keep(_keys, (t, attn), k);
    }

    internal Tensor Residual(int t, ResnetBlock2D block) => _residuals[(t, block)];

    internal (Tensor Q, Tensor K) QueryKey(int t, Attention attn) => (_queries[(t, attn)], _keys[(t, attn)]);

    /// <summary>Stores a copy of <paramref name="value"/> outside every dispose scope, disposing what was there.</summary>
    private static void Keep<TKey>(Dictionary<TKey, Tensor> map, TKey key, Tensor value) where TKey : notnull
    {
        if (map.Remove(key, out var old)) old.Dispose();
        map[key] = value.clone().DetachFromDisposeScope();
    }

    private static void Release<TKey>(Dictionary<TKey, Tensor> map) where TKey : notnull
    {
        foreach (var t in map.Values) t.Dispose();
        map.Clear();
    }

    private void Clear()
    {
        Release(_residuals);
        Release(_queries);
        Release(_keys);
        _residualSteps.Clear();
        _attentionSteps.Clear();
    }

    public void Dispose()
    {
        Clear();
        _chain = null;
        _key = null;
    }
}
