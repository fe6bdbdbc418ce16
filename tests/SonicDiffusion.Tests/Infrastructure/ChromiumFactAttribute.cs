namespace SonicDiffusion.Tests.Infrastructure;

/// <summary>
/// A fact that needs Debian's Chromium at <see cref="ExecutablePath"/> (package chromium; .ci/run installs it). Without
/// it the test is reported as skipped, with the reason.
/// </summary>
public sealed class ChromiumFactAttribute : FactAttribute
{
    public const string ExecutablePath = "/usr/bin/chromium";

    public ChromiumFactAttribute()
    {
        if (!File.Exists(ExecutablePath)) Skip = $"{ExecutablePath} not found: install Debian's chromium package (apt-get install -y chromium) to run the browser test";
    }
}
