using SonicDiffusion.Studio.Engines;

namespace SonicDiffusion.Studio.Jobs;

/// <summary>What a job runs on: the decoded generation request and, for an edit, the edit request (with the checked image bytes).</summary>
public sealed record StudioJobInput(StudioGenerateRequest Generation, StudioEditRequest? Edit = null);
