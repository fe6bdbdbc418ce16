namespace SonicDiffusion.Studio.Engines;

/// <summary>What the page and the API tell about the loaded model, and the defaults of its controls.</summary>
public sealed record StudioModelInfo
{
    public required string Name { get; init; }
    /// <summary>The folder or file the model was loaded from.</summary>
    public required string Source { get; init; }
    /// <summary>False for a plain Stable Diffusion model: the sound is decoded and checked, but does not steer the image.</summary>
    public required bool UsesAudio { get; init; }
    /// <summary>Whether POST /api/edit works (with a sound, or text-only with a prompt; a model without audio: prompt only).</summary>
    public bool CanEdit { get; init; }
    public int Width { get; init; } = 512;
    public int Height { get; init; } = 512;
    public int DefaultSteps { get; init; } = 50;
    public double DefaultGuidance { get; init; } = 7.5;
    public double DefaultBeta { get; init; } = 1.0;
    public string DefaultScheduler { get; init; } = "pndm";
    /// <summary>Edits: fraction of the steps with residual-feature injection (official demo 0.8).</summary>
    public double DefaultFeatureInjection { get; init; } = 0.8;
    /// <summary>Edits: fraction of the steps with self-attention q/k injection (official demo 0.8).</summary>
    public double DefaultAttnInjection { get; init; } = 0.8;
    /// <summary>Edits: the decoder resnets feature injection may use (<c>up_blocks.B.resnets.I</c>).</summary>
    public IReadOnlyList<string> DecoderResnets { get; init; } = [];
    /// <summary>Edits: the official feature-injection sites of this UNet (used when a request names none).</summary>
    public IReadOnlyList<string> DefaultFeatureSites { get; init; } = [];
    /// <summary>A sentence shown on the page, e.g. why the sound is not used.</summary>
    public string? Note { get; init; }
}
