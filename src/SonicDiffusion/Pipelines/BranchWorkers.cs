using System.Runtime.ExceptionServices;
using TorchSharp;

namespace SonicDiffusion.Pipelines;

/// <summary>
/// Runs the guidance branches of a sampling step side by side on dedicated threads, each with one libtorch intra-op
/// thread. For a small UNet (the mini bundle's 16×16 latents) two batch-1 calls on two cores finish sooner than one
/// batch-2 call whose kernels are too small for intra-op threading to divide (docs/benchmarks.md). Work item 0 runs on
/// the caller's thread, the others on the workers. The caller's intra-op thread count is 1 while this object lives and
/// is restored by <see cref="Dispose"/>; create, use and dispose it on one thread.
/// </summary>
public sealed class BranchWorkers : IDisposable
{
    /// <summary>Largest latent (tokens = h·w) for which branch parallelism is chosen automatically.</summary>
    public const long MaxAutoLatentTokens = 32 * 32;

    private readonly Thread[] _threads;
    private readonly SemaphoreSlim[] _start;
    private readonly CountdownEvent _done;
    private readonly Exception?[] _errors;
    private readonly int _restoreThreads;
    private Action<int>? _work;
    private volatile bool _stopping;
    private bool _disposed;

    /// <param name="parallelism">Work items per <see cref="Run"/> (≥ 2): the caller plus parallelism − 1 workers.</param>
    public BranchWorkers(int parallelism)
    {
        if (parallelism < 2) throw new ArgumentOutOfRangeException(nameof(parallelism), parallelism, "needs at least 2");
        Parallelism = parallelism;
        _restoreThreads = torch.get_num_threads();
        torch.set_num_threads(1);
        _errors = new Exception?[parallelism];
        _done = new CountdownEvent(parallelism - 1);
        _start = Enumerable.Range(0, parallelism - 1).Select(_ => new SemaphoreSlim(0)).ToArray();
        _threads = Enumerable.Range(1, parallelism - 1).Select(i => new Thread(() => Loop(i)) { IsBackground = true, Name = $"sonic-branch-{i}" }).ToArray();
        foreach (var t in _threads) t.Start();
    }

    public int Parallelism { get; }

    public bool IsDisposed => _disposed;

    /// <summary>
    /// How many branches to run side by side for a UNet call of <paramref name="branches"/> rows on latents of
    /// <paramref name="latentTokens"/> positions, given <paramref name="threads"/> intra-op threads: 1 (one batched
    /// call) for large latents, a single branch or a single thread.
    /// </summary>
    public static int Suggest(int branches, long latentTokens, int threads) =>
        branches < 2 || threads < 2 || latentTokens > MaxAutoLatentTokens ? 1 : Math.Min(branches, threads);

    /// <summary>
    /// How many groups a sampling run of <paramref name="branches"/> guidance branches on latents of
    /// <paramref name="latentTokens"/> positions evaluates side by side: <paramref name="requested"/> (null =
    /// <see cref="Suggest"/> with the current intra-op thread count; always 1 off the CPU), at most one per branch.
    /// </summary>
    public static int Choose(int? requested, int branches, long latentTokens, bool onCpu = true)
    {
        if (requested is < 1) throw new ArgumentOutOfRangeException(nameof(requested), requested, "branch threads must be at least 1");
        return Math.Min(branches, requested ?? (onCpu ? Suggest(branches, latentTokens, torch.get_num_threads()) : 1));
    }

    /// <summary>Workers for <see cref="Choose"/>'s number of groups; null when that is 1 (one batched call).</summary>
    public static BranchWorkers? ForSampling(int? requested, int branches, long latentTokens, bool onCpu = true)
    {
        int n = Choose(requested, branches, latentTokens, onCpu);
        return n > 1 ? new BranchWorkers(n) : null;
    }

    /// <summary>Runs <paramref name="work"/>(i) for i = 0 … Parallelism − 1 concurrently and waits for all; rethrows the first failure.</summary>
    public void Run(Action<int> work)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _work = work;
        Array.Clear(_errors);
        _done.Reset();
        foreach (var s in _start) s.Release();
        try { work(0); }
        catch (Exception e) { _errors[0] = e; }
        _done.Wait();
        _work = null;
        if (_errors.FirstOrDefault(e => e is not null) is { } error) ExceptionDispatchInfo.Throw(error);
    }

    private void Loop(int index)
    {
        torch.set_num_threads(1);
        using var mode = torch.inference_mode();
        while (true)
        {
            _start[index - 1].Wait();
            if (_stopping) return;
            try { _work!(index); }
            catch (Exception e) { _errors[index] = e; }
            finally { _done.Signal(); }
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _stopping = true;
        foreach (var s in _start) s.Release();
        foreach (var t in _threads) t.Join();
        foreach (var s in _start) s.Dispose();
        _done.Dispose();
        torch.set_num_threads(_restoreThreads);
    }
}
