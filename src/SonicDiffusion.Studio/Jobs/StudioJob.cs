using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Threading.Channels;
using SonicDiffusion.Studio.Engines;

namespace SonicDiffusion.Studio.Jobs;

/// <summary>
/// One queued generation or edit: its state, progress, result, and the log of its events, which every subscriber
/// receives from the start (previews are dropped from the log once the job has finished).
/// </summary>
public sealed class StudioJob
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    private readonly object _lock = new();
    private readonly List<StudioEvent> _events = new();
    private readonly List<Channel<StudioEvent>> _subscribers = new();
    private long _nextEventId = 1;

    internal StudioJob(string id, StudioJobKind kind, StudioJobInput input, StudioJobParameters parameters)
    {
        Id = id;
        Kind = kind;
        Input = input;
        Parameters = parameters;
    }

    public string Id { get; }
    public StudioJobKind Kind { get; }
    public StudioJobParameters Parameters { get; }
    public DateTimeOffset Created { get; } = DateTimeOffset.UtcNow;
    public DateTimeOffset? Started { get; private set; }
    public DateTimeOffset? Finished { get; private set; }
    public StudioJobState State { get; private set; } = StudioJobState.Queued;
    /// <summary>1-based place in the waiting line while queued (1 = runs next); 0 otherwise.</summary>
    public int Position { get; private set; }
    public int Step { get; private set; }
    public int Total { get; private set; }
    /// <summary>The phase of the last step: "denoise" (generation), "invert" or "edit"; null before the first step.</summary>
    public string? Phase { get; private set; }
    public StudioImage? Result { get; private set; }
    public string? Error { get; private set; }
    public bool IsFinished => State is StudioJobState.Done or StudioJobState.Failed or StudioJobState.Cancelled;

    internal StudioJobInput? Input { get; private set; }
    internal CancellationTokenSource Cancellation { get; } = new();

    internal void SetPosition(int position)
    {
        lock (_lock)
        {
            if (State != StudioJobState.Queued || position == Position) return;
            Position = position;
            Publish("queued", new { position });
        }
    }

    internal void MarkStarted()
    {
        lock (_lock)
        {
            State = StudioJobState.Running;
            Position = 0;
            Started = DateTimeOffset.UtcNow;
            Publish("started", new { });
        }
    }

    internal void Report(StudioProgress p)
    {
        lock (_lock)
        {
            if (p.PreviewPng is { } png)
            {
                Publish("preview", new { step = p.Step, total = p.Total, phase = p.Phase, image = "data:image/png;base64," + Convert.ToBase64String(png) });
                return;
            }
            Step = p.Step;
            Total = p.Total;
            Phase = p.Phase;
            if (p.Detail is { } detail) Publish("step", new { step = p.Step, total = p.Total, phase = p.Phase, detail });
            else Publish("step", new { step = p.Step, total = p.Total, phase = p.Phase });
        }
    }

    internal void Complete(StudioImage result)
    {
        lock (_lock)
        {
            Result = result;
            Finish(StudioJobState.Done, "done", new
            {
                image_url = $"/api/jobs/{Id}/image",
                width = result.Width,
                height = result.Height,
                seconds = Math.Round((DateTimeOffset.UtcNow - (Started ?? Created)).TotalSeconds, 2),
                metadata = result.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value),
            });
        }
    }

    internal void Fail(string message)
    {
        lock (_lock)
        {
            Error = message;
            Finish(StudioJobState.Failed, "error", new { message });
        }
    }

    /// <summary>Marks a cancelled job; false if it had already finished.</summary>
    internal bool MarkCancelled(string reason)
    {
        lock (_lock)
        {
            if (IsFinished) return false;
            Error = reason;
            Finish(StudioJobState.Cancelled, "cancelled", new { message = reason });
            return true;
        }
    }

    private void Finish(StudioJobState state, string type, object data)
    {
        State = state;
        Position = 0;
        Finished = DateTimeOffset.UtcNow;
        Input = null;
        Publish(type, data);
        _events.RemoveAll(e => e.Type == "preview");
        foreach (var s in _subscribers) s.Writer.TryComplete();
        _subscribers.Clear();
    }

    private void Publish(string type, object data)
    {
        var e = new StudioEvent(_nextEventId++, type, JsonSerializer.Serialize(data, Json));
        _events.Add(e);
        foreach (var s in _subscribers) s.Writer.TryWrite(e);
    }

    /// <summary>Every event so far, then each new one until the job finishes (or <paramref name="ct"/> fires).</summary>
    public async IAsyncEnumerable<StudioEvent> Subscribe([EnumeratorCancellation] CancellationToken ct = default)
    {
        var channel = Channel.CreateUnbounded<StudioEvent>(new UnboundedChannelOptions { SingleReader = true });
        lock (_lock)
        {
            foreach (var e in _events) channel.Writer.TryWrite(e);
            if (IsFinished) channel.Writer.TryComplete();
            else _subscribers.Add(channel);
        }
        try
        {
            await foreach (var e in channel.Reader.ReadAllAsync(ct)) yield return e;
        }
        finally
        {
            lock (_lock) _subscribers.Remove(channel);
        }
    }

    /// <summary>A copy of the event log.</summary>
    public IReadOnlyList<StudioEvent> Events()
    {
        lock (_lock) return _events.ToList();
    }
}
