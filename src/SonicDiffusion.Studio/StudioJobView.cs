using SonicDiffusion.Studio.Jobs;

namespace SonicDiffusion.Studio;

/// <summary>A job as the API shows it (GET /api/jobs/{id}).</summary>
public sealed record StudioJobView(string Id, string Kind, string State, int Position, int Step, int Total, string? Phase,
    StudioJobParameters Parameters, string? Error, string? ImageUrl, IReadOnlyDictionary<string, string>? Metadata,
    DateTimeOffset Created, DateTimeOffset? Started, DateTimeOffset? Finished, string EventsUrl)
{
    public static StudioJobView Of(StudioJob j) => new(
        j.Id, j.Kind.ToString().ToLowerInvariant(), j.State.ToString().ToLowerInvariant(), j.Position, j.Step, j.Total, j.Phase,
        j.Parameters, j.Error, j.Result is null ? null : $"/api/jobs/{j.Id}/image",
        j.Result?.Metadata.ToDictionary(kv => kv.Key, kv => kv.Value), j.Created, j.Started, j.Finished, $"/api/jobs/{j.Id}/events");
}

/// <summary>GET /api/jobs: the running job, the waiting line in order, and every kept job (newest first).</summary>
public sealed record StudioQueueView(string? Running, IReadOnlyList<string> Waiting, IReadOnlyList<StudioJobView> Jobs);

/// <summary>GET /api/info: the model, the controls' defaults and the limits.</summary>
public sealed record StudioInfoView(Engines.StudioModelInfo Model, IReadOnlyList<string> Schedulers, long AudioUploadLimit,
    long ImageUploadLimit, long MaxImagePixels, int MaxSteps, int MaxQueuedJobs, int MaxStoredResults, int PreviewEvery);

/// <summary>GET /api/samples: one bundled sound.</summary>
public sealed record StudioSampleView(string Id, string Name, string Format, double DurationSeconds, long Bytes, string AudioUrl);

/// <summary>An API error: one line.</summary>
public sealed record StudioError(string Error);
