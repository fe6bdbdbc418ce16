namespace SonicDiffusion.Studio.Engines;

/// <summary>
/// Model call <paramref name="Step"/> of <paramref name="Total"/> of a phase is done; <paramref name="PreviewPng"/> is a
/// small preview, when one was made. Phases: "denoise" (generation), "invert" and "edit" (an edit: the DDIM inversion
/// of the source, then the PnP sampling); <paramref name="Detail"/> says e.g. "cached" for an inversion loaded from the cache.
/// </summary>
public readonly record struct StudioProgress(int Step, int Total, byte[]? PreviewPng = null, string Phase = StudioProgress.Denoise, string? Detail = null)
{
    public const string Denoise = "denoise";
    public const string Invert = "invert";
    public const string EditPhase = "edit";
}
