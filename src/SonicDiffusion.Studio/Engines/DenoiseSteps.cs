using SonicDiffusion.Core;

namespace SonicDiffusion.Studio.Engines;

/// <summary>A pipeline's "denoise" reports as the studio's step events (synchronously, in order; previews come from <see cref="LatentPreview"/>).</summary>
internal sealed class DenoiseSteps(IProgress<StudioProgress> progress) : IProgress<ProgressInfo>
{
    public void Report(ProgressInfo p)
    {
        if (p.Stage == "denoise") progress.Report(new StudioProgress(p.Step, p.Total));
    }
}
