namespace SonicDiffusion.Core;

/// <summary>
/// Whether oneDNN computed one convolution shape right on this CPU/libtorch/ISA: its worst error against float64,
/// relative to the largest reference output, and how long the check took.
/// </summary>
public sealed record ConvolutionVerdict(string Shape, bool OneDnnRight, double RelativeError, double CheckMilliseconds, DateTime CheckedAt);
