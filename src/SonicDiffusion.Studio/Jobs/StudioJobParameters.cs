namespace SonicDiffusion.Studio.Jobs;

/// <summary>The parameters a job was asked with, as shown in the gallery (the injection fractions and fit only for an edit).</summary>
public sealed record StudioJobParameters(string Prompt, string NegativePrompt, double Guidance, double Beta, int Steps, long Seed,
    string Scheduler, string Audio, bool HasImage, double? FeatureInjection = null, double? AttnInjection = null, string? Fit = null,
    string? FeatureSites = null);
