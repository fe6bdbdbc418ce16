namespace SonicDiffusion.Core;

/// <summary>One progress report of long work: a named stage and its step count (Total 0 = indeterminate).</summary>
public readonly record struct ProgressInfo(string Stage, int Step, int Total, string? Detail = null);
