namespace SonicDiffusion.Tests.Infrastructure;

/// <summary>
/// A fact that needs a real recording from a Debian game data package (installed by .ci/run; the sound files are never
/// committed). Without the file the test is reported as skipped, with the package to install.
/// </summary>
public sealed class RealRecordingFactAttribute : FactAttribute
{
    /// <summary>chromium-bsu-data 0.9.16.1-3 (Expat licence): a big explosion, 2.7 s. Held out of training: it is a
    /// validation clip of scripts/real-sounds.sh's set (its split is drawn from the clip's group).</summary>
    public const string Explosion = "/usr/share/games/chromium-bsu/wav/exploBig.wav";
    public const string Package = "chromium-bsu-data";

    public RealRecordingFactAttribute()
    {
        if (!File.Exists(Explosion)) Skip = $"{Explosion} not found: install Debian's {Package} package (apt-get install -y {Package}) to run the real-recording test";
    }
}
