using SonicDiffusion.Tests.Infrastructure;

namespace SonicDiffusion.Tests;

/// <summary>`sonic serve` refuses what it must refuse before it loads anything.</summary>
[Collection("Console")]
public class StudioCliTests
{
    [Fact]
    public void ServeBeyondLoopbackNeedsAToken()
    {
        var (code, _, err) = CliTests.Sonic("serve", "--model", "/nonexistent", "--urls", "http://0.0.0.0:5000");
        Assert.Equal(1, code);
        Assert.Equal("error: --urls http://0.0.0.0:5000: binding beyond loopback (127.0.0.1, [::1], localhost) needs --token", err.Trim());
    }

    [Fact]
    public void ServeWithAMissingModelIsOneErrorLine()
    {
        using var tmp = new TempDir();
        var missing = tmp.File("no-such-model");
        var (code, _, err) = CliTests.Sonic("serve", "--model", missing);
        Assert.Equal(1, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"error: {missing}: model not found (give a diffusers folder or a single-file checkpoint)", line);
    }

    [Fact]
    public void ServeWithoutModelNeedsACompleteDefaultBundle()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.File("models/sonic-mini/classifier"));
        var cwd = Directory.GetCurrentDirectory();
        Directory.SetCurrentDirectory(tmp.Path);
        try
        {
            var (code, _, err) = CliTests.Sonic("serve");
            Assert.Equal(1, code);
            var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("error: models/sonic-mini: the default model is not installed", line);
        }
        finally { Directory.SetCurrentDirectory(cwd); }
    }

    [Fact]
    public void ServeIsListed()
    {
        var (code, output, _) = CliTests.Sonic("serve", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--token", output);
        Assert.Contains("--urls", output);
    }
}
