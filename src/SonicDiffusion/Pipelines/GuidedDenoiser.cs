using SonicDiffusion.Models;
using SonicDiffusion.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Pipelines;

/// <summary>
/// Classifier-free guidance over an ordered chain of conditioning branches, evaluated in one batched UNet call:
/// ε = ε₀ + Σₖ sₖ·(εₖ − εₖ₋₁). Two branches [uncond, cond] give the usual ε_u + s·(ε_c − ε_u); three branches
/// [uncond, text, text+audio] give separate text and audio scales. The cross-attention keys and values of each branch
/// group are computed at the first step and reused (<see cref="CrossAttentionCache"/>; the contexts are fixed for the
/// denoiser's life), so dispose the denoiser after sampling.
/// </summary>
public sealed class GuidedDenoiser : IDisposable
{
    private readonly UNet2DConditionModel _unet;
    private readonly Tensor _text;
    private readonly Tensor? _audio;
    private readonly double[] _scales;
    private readonly double _audioScale;
    private readonly Action<UNetCallContext, int>? _prepareContext;
    private readonly BranchWorkers? _workers;
    // One cache per branch group, keyed by the group's first branch; each group is evaluated by one thread at a time.
    private readonly CrossAttentionCache[] _caches;

    /// <param name="textContext">[branches, 77, D] text tokens, one row per branch</param>
    /// <param name="audioContext">[branches, K, D] audio tokens per branch, or null for a plain SD UNet call</param>
    /// <param name="scales">one scale per branch after the first (empty for a single, unguided branch)</param>
    /// <param name="audioScale">β of the gated audio attention</param>
    /// <param name="prepareContext">optional per-call set-up of the UNet call context (hooks read it), given the timestep</param>
    /// <param name="workers">when given, the branches are split into <see cref="BranchWorkers.Parallelism"/> groups evaluated side by side</param>
    public GuidedDenoiser(UNet2DConditionModel unet, Tensor textContext, Tensor? audioContext, double[] scales,
        double audioScale = 1.0, Action<UNetCallContext, int>? prepareContext = null, BranchWorkers? workers = null)
    {
        if (scales.Length != textContext.shape[0] - 1)
            throw new ArgumentException($"{textContext.shape[0]} branches need {textContext.shape[0] - 1} guidance scales, got {scales.Length}");
        if (audioContext is not null && audioContext.shape[0] != textContext.shape[0])
            throw new ArgumentException("audio and text contexts must have one row per branch");
        _unet = unet;
        _text = textContext;
        _audio = audioContext;
        _scales = scales;
        _audioScale = audioScale;
        _prepareContext = prepareContext;
        _workers = workers is not null && workers.Parallelism <= textContext.shape[0] ? workers : null;
        _caches = Enumerable.Range(0, (int)textContext.shape[0]).Select(_ => new CrossAttentionCache()).ToArray();
    }

    /// <summary>Reuse of cross-attention keys/values so far (for tests and profiling).</summary>
    public (long Hits, long Misses) CacheStatistics => (_caches.Sum(c => c.Hits), _caches.Sum(c => c.Misses));

    public int Branches => (int)_text.shape[0];

    /// <summary>The guided ε at latent <paramref name="x"/> [1, C, h, w] and integer timestep <paramref name="t"/>.</summary>
    public Tensor Denoise(Tensor x, int t)
    {
        int n = Branches;
        var eps = _workers is null ? Evaluate(x, t, 0, n) : EvaluateSideBySide(x, t, _workers);
        if (n == 1) return eps;
        var chunks = eps.chunk(n, 0);
        var result = chunks[0];
        for (int k = 1; k < n; k++) result = result + _scales[k - 1] * (chunks[k] - chunks[k - 1]);
        return result;
    }

    public DenoiseFn AsDenoiseFn() => Denoise;

    /// <summary>ε of branches [from, to) in one batched UNet call.</summary>
    private Tensor Evaluate(Tensor x, int t, int from, int to)
    {
        int rows = to - from;
        using var scope = torch.NewDisposeScope();
        var batch = rows == 1 ? x : x.expand(rows, -1, -1, -1);
        var ts = torch.full(new long[] { rows }, t, dtype: ScalarType.Int64, device: x.device);
        bool all = rows == Branches;
        var ctx = new UNetCallContext { AudioContext = all ? _audio : _audio?[from..to], AudioScale = _audioScale, CrossAttentionCache = _caches[from] };
        _prepareContext?.Invoke(ctx, t);
        return _unet.Forward(batch, ts, all ? _text : _text[from..to], ctx).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The branches split into contiguous groups, one UNet call per group, the calls run side by side; each thread
    /// writes its rows into the result and frees its own tensors.
    /// </summary>
    private Tensor EvaluateSideBySide(Tensor x, int t, BranchWorkers workers)
    {
        int n = Branches, groups = workers.Parallelism;
        var eps = torch.empty(new long[] { n, x.shape[1], x.shape[2], x.shape[3] }, dtype: x.dtype, device: x.device);
        workers.Run(g =>
        {
            int from = g * n / groups, to = (g + 1) * n / groups;
            using var scope = torch.NewDisposeScope();
            eps[from..to].copy_(Evaluate(x, t, from, to));
        });
        return eps;
    }

    public void Dispose()
    {
        // Each group's keys/values were made on its worker thread; freeing them there keeps TorchSharp's per-thread
        // live-tensor statistics balanced (the leak tests read them).
        if (_workers is { IsDisposed: false } workers)
        {
            int n = Branches, groups = workers.Parallelism;
            workers.Run(g => _caches[g * n / groups].Dispose());
        }
        foreach (var c in _caches) c.Dispose();
    }
}
