namespace SonicDiffusion.Studio.Jobs;

/// <summary>One server-sent event of a job: its sequence number, type (queued, started, step, preview, done, error, cancelled) and JSON data.</summary>
public sealed record StudioEvent(long Id, string Type, string Json);
