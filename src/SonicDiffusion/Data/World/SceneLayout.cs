using SkiaSharp;

namespace SonicDiffusion.Data.World;

/// <summary>
/// Where a world-2 backdrop put things: the horizon, the water body (as a path and an anchor in it), a free spot on the
/// ground and the spot on the far shore where a waterfall can come down. Events are drawn at these anchors, so they land
/// in the same place whatever the class.
/// </summary>
internal sealed class SceneLayout : IDisposable
{
    public required float Horizon { get; init; }
    public required SKPath Water { get; init; }
    /// <summary>Top of the water surface at the water anchor's x (the far shore line there).</summary>
    public required float WaterTop { get; init; }
    public required SKPoint WaterAnchor { get; init; }
    /// <summary>How wide the water is around its anchor (events keep within it).</summary>
    public required float WaterWidth { get; init; }
    public required SKPoint GroundAnchor { get; init; }
    /// <summary>The point on the far shore where a waterfall meets the water.</summary>
    public required SKPoint FallFoot { get; init; }
    /// <summary>+1 or -1: the way the wind blows when it does.</summary>
    public required int WindDirection { get; init; }
    public List<SKPoint> TreeBases { get; } = [];

    public void Dispose() => Water.Dispose();
}
