namespace SonicDiffusion.Studio.Engines;

/// <summary>Model call <paramref name="Step"/> of <paramref name="Total"/> is done; <paramref name="PreviewPng"/> is a small preview, when one was made.</summary>
public readonly record struct StudioProgress(int Step, int Total, byte[]? PreviewPng = null);
