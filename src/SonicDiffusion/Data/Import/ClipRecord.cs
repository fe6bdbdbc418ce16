namespace SonicDiffusion.Data.Import;

/// <summary>
/// What decoding one clip produced, kept as <c>OUT/clips/&lt;id&gt;.json</c>. It is written after the clip's WAV and
/// PNGs, so its presence marks the clip finished: a resumed import skips the clip and rebuilds its rows from it.
/// </summary>
public sealed record ClipRecord
{
    /// <summary>The WAV, relative to the output folder.</summary>
    public required string Audio { get; init; }
    public required double AudioSeconds { get; init; }
    public required IReadOnlyList<FrameRecord> Frames { get; init; }

    /// <summary>One PNG (relative to the output folder) and the time of its frame in the source, seconds (null for a still image).</summary>
    public sealed record FrameRecord(string Image, double? TimeSeconds);
}
