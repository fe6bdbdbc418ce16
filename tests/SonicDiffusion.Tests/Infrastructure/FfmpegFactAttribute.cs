using SonicDiffusion.Data.Import;

namespace SonicDiffusion.Tests.Infrastructure;

/// <summary>
/// A fact that needs the ffmpeg and ffprobe binaries (Debian's ffmpeg package; .ci/run installs it). Without them the
/// test is reported as skipped, with the reason.
/// </summary>
public sealed class FfmpegFactAttribute : FactAttribute
{
    public FfmpegFactAttribute()
    {
        if (Ffmpeg.TryLocate() is null) Skip = "ffmpeg/ffprobe not found: install Debian's ffmpeg package (apt-get install -y ffmpeg) to run the dataset import tests";
    }
}
