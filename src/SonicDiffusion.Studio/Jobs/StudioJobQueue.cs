using System.Security.Cryptography;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SonicDiffusion.Core;
using SonicDiffusion.Studio.Engines;

namespace SonicDiffusion.Studio.Jobs;

/// <summary>
/// First-in, first-out jobs on one engine, run one at a time on a dedicated worker thread (torch work stays on one
/// thread). Waiting jobs know their place in line; any job can be cancelled; finished jobs are kept up to
/// <see cref="StudioOptions.MaxStoredResults"/>, the oldest evicted first.
/// </summary>
public sealed class StudioJobQueue : IHostedService, IDisposable
{
    private readonly IStudioEngine _engine;
    private readonly StudioOptions _options;
    private readonly ILogger _log;
    private readonly object _lock = new();
    private readonly Dictionary<string, StudioJob> _jobs = new();
    private readonly LinkedList<StudioJob> _waiting = new();
    private readonly LinkedList<StudioJob> _finished = new();
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private Thread? _worker;
    private StudioJob? _running;

    public StudioJobQueue(IStudioEngine engine, StudioOptions options, ILogger<StudioJobQueue> log)
    {
        _engine = engine;
        _options = options;
        _log = log;
    }

    public StudioJob? Running
    {
        get { lock (_lock) return _running; }
    }

    public int WaitingCount
    {
        get { lock (_lock) return _waiting.Count; }
    }

    /// <summary>All known jobs, newest first.</summary>
    public IReadOnlyList<StudioJob> Jobs
    {
        get { lock (_lock) return _jobs.Values.OrderByDescending(j => j.Created).ToList(); }
    }

    public StudioJob? Find(string id)
    {
        lock (_lock) return _jobs.GetValueOrDefault(id);
    }

    /// <summary>Adds a job at the end of the line; 429 when <see cref="StudioOptions.MaxQueuedJobs"/> are already waiting.</summary>
    public StudioJob Enqueue(StudioJobKind kind, StudioJobInput input, StudioJobParameters parameters)
    {
        var job = new StudioJob(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)), kind, input, parameters);
        lock (_lock)
        {
            if (_stop.IsCancellationRequested) throw new StudioHttpException(503, "the server is stopping");
            if (_waiting.Count >= _options.MaxQueuedJobs)
                throw new StudioHttpException(429, $"the queue is full ({_options.MaxQueuedJobs} jobs waiting); try again later");
            _jobs[job.Id] = job;
            _waiting.AddLast(job);
            job.SetPosition(_waiting.Count);
        }
        _signal.Release();
        return job;
    }

    /// <summary>
    /// Cancels a waiting job at once, or asks the running one to stop after its current model call; a finished job is
    /// removed with its image. Returns false when the job was already removed.
    /// </summary>
    public bool CancelOrRemove(StudioJob job)
    {
        lock (_lock)
        {
            if (!_jobs.ContainsKey(job.Id)) return false;
            if (job.IsFinished)
            {
                _jobs.Remove(job.Id);
                _finished.Remove(job);
                return true;
            }
            if (job.State == StudioJobState.Queued)
            {
                _waiting.Remove(job);
                job.MarkCancelled("cancelled while waiting");
                Retire(job);
                RefreshPositions();
                return true;
            }
        }
        job.Cancellation.Cancel();
        return true;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _worker = new Thread(WorkLoop) { IsBackground = true, Name = "sonic-studio-worker" };
        _worker.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Shutdown();
        return Task.Run(() => _worker?.Join(TimeSpan.FromSeconds(30)), cancellationToken);
    }

    private void Shutdown()
    {
        List<StudioJob> dropped;
        lock (_lock)
        {
            if (_stop.IsCancellationRequested) return;
            _stop.Cancel();
            dropped = _waiting.ToList();
            _waiting.Clear();
            _running?.Cancellation.Cancel();
        }
        foreach (var j in dropped) j.MarkCancelled("the server stopped");
    }

    private void WorkLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            try { _signal.Wait(_stop.Token); }
            catch (OperationCanceledException) { break; }
            StudioJob? job;
            lock (_lock)
            {
                job = _waiting.First?.Value;
                if (job is null) continue;
                _waiting.RemoveFirst();
                _running = job;
                job.MarkStarted();
                RefreshPositions();
            }
            Run(job);
            lock (_lock)
            {
                _running = null;
                Retire(job);
            }
        }
    }

    private void Run(StudioJob job)
    {
        var input = job.Input!;
        var ct = job.Cancellation.Token;
        var progress = new SyncProgress(job.Report);
        try
        {
            var generation = input.Generation with { PreviewEvery = _options.PreviewEvery };
            StudioImage result;
            if (job.Kind == StudioJobKind.Edit)
                result = _engine.Edit(input.Edit! with { Generation = generation }, progress, ct);
            else result = _engine.Generate(generation, progress, ct);
            if (ct.IsCancellationRequested) job.MarkCancelled("cancelled");
            else job.Complete(result);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            job.MarkCancelled(_stop.IsCancellationRequested ? "the server stopped" : "cancelled");
        }
        catch (SonicException e)
        {
            job.Fail(e.Message);
        }
        catch (Exception e)
        {
            _log.LogError(e, "job {Id} failed", job.Id);
            job.Fail($"internal error ({e.GetType().Name}): {e.Message.Split('\n')[0]}");
        }
    }

    /// <summary>Under the lock: keeps a finished job and evicts the oldest beyond the limit.</summary>
    private void Retire(StudioJob job)
    {
        if (!_jobs.ContainsKey(job.Id)) return;
        _finished.AddLast(job);
        while (_finished.Count > Math.Max(0, _options.MaxStoredResults))
        {
            var old = _finished.First!.Value;
            _finished.RemoveFirst();
            _jobs.Remove(old.Id);
        }
    }

    private void RefreshPositions()
    {
        int i = 1;
        foreach (var j in _waiting) j.SetPosition(i++);
    }

    public void Dispose()
    {
        Shutdown();
        _worker?.Join(TimeSpan.FromSeconds(30));
        _signal.Dispose();
        _stop.Dispose();
    }

    private sealed class SyncProgress(Action<StudioProgress> report) : IProgress<StudioProgress>
    {
        public void Report(StudioProgress value) => report(value);
    }
}
