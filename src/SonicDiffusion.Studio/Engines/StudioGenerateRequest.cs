using SonicDiffusion.Audio;

namespace SonicDiffusion.Studio.Engines;

/// <summary>One generation: the decoded sound and the sampling parameters (already range-checked by the server).</summary>
public sealed record StudioGenerateRequest
{
    public required AudioClip Audio { get; init; }
    /// <summary>Where the sound came from, for the PNG metadata (a sample id or "upload"); never a path.</summary>
    public required string AudioLabel { get; init; }
    public string Prompt { get; init; } = "";
    public string NegativePrompt { get; init; } = "";
    public double Guidance { get; init; } = 7.5;
    /// <summary>β: the scale of the gated audio attention.</summary>
    public double Beta { get; init; } = 1.0;
    public int Steps { get; init; } = 50;
    public long Seed { get; init; }
    public string Scheduler { get; init; } = "pndm";
    /// <summary>Make a preview every this many model calls (0 = none).</summary>
    public int PreviewEvery { get; init; } = 5;
}
