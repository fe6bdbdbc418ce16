using SonicDiffusion.Training;

namespace SonicDiffusion.Tests.Infrastructure;

/// <summary>A fact that needs Debian's ffmpeg (.ci/run installs it); without it the test is reported skipped, with the reason.</summary>
public sealed class FfmpegFactAttribute : FactAttribute
{
    public FfmpegFactAttribute()
    {
        if (AudioAugmentation.FindFfmpeg() is null) Skip = "ffmpeg not found: install Debian's ffmpeg package (apt-get install -y ffmpeg)";
    }
}
