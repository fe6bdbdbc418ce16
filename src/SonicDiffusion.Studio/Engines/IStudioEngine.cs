namespace SonicDiffusion.Studio.Engines;

/// <summary>
/// What the studio runs jobs on: one loaded model. The job queue calls it from a single worker thread, one job at a
/// time, so an engine need not be thread-safe. Cancellation is observed between model calls
/// (<see cref="OperationCanceledException"/>); user-input problems are <see cref="Core.SonicException"/>s.
/// </summary>
public interface IStudioEngine : IDisposable
{
    StudioModelInfo Info { get; }

    /// <summary>Sound (+ prompt) → image. Reports every model call and, every few calls, a preview.</summary>
    StudioImage Generate(StudioGenerateRequest request, IProgress<StudioProgress> progress, CancellationToken ct);

    /// <summary>Image + sound → edited image. Only called when <see cref="StudioModelInfo.CanEdit"/> is true.</summary>
    StudioImage Edit(StudioEditRequest request, IProgress<StudioProgress> progress, CancellationToken ct);
}
