using SonicDiffusion.Imaging;
using SonicDiffusion.Tests.Infrastructure;

namespace SonicDiffusion.Tests;

/// <summary>`sonic edit` run in-process on a tiny bundle.</summary>
[Collection("Console")]
public class EditCommandTests(TinySonicFixture tiny) : IClassFixture<TinySonicFixture>
{
    private static (int Code, string Out, string Err) Sonic(params string[] args) => CliTests.Sonic(args);

    private string[] Fast(string cache, params string[] args) => ["edit", "--model", tiny.Bundle, "--steps", "3", "--cache", cache, .. args];

    [Fact]
    public void EditsWithSeveralSoundsWriteMetadataASheetAndReuseTheInversion()
    {
        using var tmp = new TempDir();
        var photo = ImageEditPipelineTests.WriteSource(tmp.File("photo.png"), 80, 48);
        var sounds = tmp.File("sounds");
        Directory.CreateDirectory(sounds);
        File.Copy(tiny.Tone, Path.Combine(sounds, "tone.wav"));
        File.Copy(tiny.Noise, Path.Combine(sounds, "noise.wav"));
        var outDir = tmp.File("out");
        var (code, output, err) = Sonic(Fast(tmp.File("cache"), "--image", photo, "--audio", sounds, "--out", outDir, "--sheet", "--feature-injection", "0.5", "--guidance", "5"));
        Assert.True(code == 0, err);
        Assert.Contains("wrote 2 edits", output);
        var meta = PngText.Read(Path.Combine(outDir, "photo_tone.png"));
        Assert.Equal("pnp-audio", meta["edit_mode"]);
        Assert.Equal("0.5", meta["feature_injection"]);
        Assert.Equal("0.8", meta["attn_injection"]);
        Assert.Equal("5", meta["guidance"]);
        Assert.Equal("up_blocks.1.resnets.1", meta["pnp_conv_sites"]);
        Assert.False(meta.ContainsKey("feature_sites"), "official sites are not an option value");
        using (var edited = ImageTensor.Load(Path.Combine(outDir, "photo_noise.png")))
            Assert.Equal(new long[] { 1, 3, 48, 80 }, edited.shape);
        using (var sheet = ImageTensor.Load(Path.Combine(outDir, "photo_sheet.png")))
            Assert.Equal(new long[] { 1, 3, 48, 240 }, sheet.shape);
        Assert.DoesNotContain("from the cache", err);

        var (code2, _, err2) = Sonic(Fast(tmp.File("cache"), "--image", photo, "--audio", tiny.Tone, "--out", tmp.File("one.png")));
        Assert.True(code2 == 0, err2);
        Assert.Contains("inversion loaded from the cache", err2);
        Assert.True(File.Exists(tmp.File("one.png")));
    }

    [Fact]
    public void TextOnlyPnpAndOptionErrors()
    {
        using var tmp = new TempDir();
        var photo = ImageEditPipelineTests.WriteSource(tmp.File("p.png"));
        var (code, _, err) = Sonic(Fast(tmp.File("c"), "--image", photo, "--prompt", "a snowy field", "--out", tmp.File("t.png"), "--fit", "pad"));
        Assert.True(code == 0, err);
        Assert.Equal("pnp-text", PngText.Read(tmp.File("t.png"))["edit_mode"]);

        (code, _, err) = Sonic(Fast(tmp.File("c"), "--image", photo));
        Assert.Equal(1, code);
        Assert.Contains("--prompt", err);
        (code, _, err) = Sonic(Fast(tmp.File("c"), "--image", photo, "--audio", tiny.Tone, "--feature-injection", "1.5"));
        Assert.Equal(1, code);
        Assert.Contains("--feature-injection 1.5", err);
        (code, _, err) = Sonic(Fast(tmp.File("c-sites"), "--image", photo, "--audio", tiny.Tone, "--feature-sites", "up_blocks.1.resnets.7", "--out", tmp.File("s.png")));
        Assert.Equal(1, code);
        Assert.Contains("--feature-sites 'up_blocks.1.resnets.7': not a decoder resnet", err);
        Assert.Single(err.Trim().Split('\n'), l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.DoesNotContain("   at ", err);
        Assert.False(Directory.Exists(tmp.File("c-sites")), "refused before inverting");
        (code, _, err) = Sonic(Fast(tmp.File("c2"), "--image", photo, "--audio", tiny.Tone, "--feature-sites", "up_blocks.1.resnets.0, up_blocks.0.resnets.1", "--out", tmp.File("s.png")));
        Assert.True(code == 0, err);
        var meta = PngText.Read(tmp.File("s.png"));
        Assert.Equal("up_blocks.1.resnets.0,up_blocks.0.resnets.1", meta["feature_sites"]);
        Assert.Equal("up_blocks.1.resnets.0,up_blocks.0.resnets.1", meta["pnp_conv_sites"]);
        (code, _, err) = Sonic(Fast(tmp.File("c"), "--image", photo, "--audio", tiny.Tone, "--fit", "stretch"));
        Assert.Equal(1, code);
        Assert.Contains("--fit stretch", err);
        (code, _, err) = Sonic(Fast(tmp.File("c"), "--image", Path.Combine(RepoPaths.Fixtures, "images", "huge.png"), "--audio", tiny.Tone, "--out", tmp.File("h.png")));
        Assert.Equal(1, code);
        Assert.Contains("20000x20000", err);
    }

    [Fact]
    public void FolderOfImagesSkipsBadFilesWithOneLine()
    {
        using var tmp = new TempDir();
        var photos = tmp.File("photos");
        Directory.CreateDirectory(photos);
        ImageEditPipelineTests.WriteSource(Path.Combine(photos, "a.png"));
        File.Copy(Path.Combine(RepoPaths.Fixtures, "images", "corrupt.jpg"), Path.Combine(photos, "b.jpg"));
        File.Copy(Path.Combine(RepoPaths.Fixtures, "images", "one_pixel.png"), Path.Combine(photos, "c.png"));
        var outDir = tmp.File("out");
        var (code, output, err) = Sonic(Fast(tmp.File("cache"), "--image", photos, "--audio", tiny.Tone, "--out", outDir, "--no-cache"));
        Assert.Equal(1, code);
        Assert.Contains("wrote 1 edit ", output);
        Assert.True(File.Exists(Path.Combine(outDir, "a_tone.png")));
        var skipped = err.Split('\n').Where(l => l.StartsWith("skipped: ", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, skipped.Count);
        Assert.Contains(skipped, l => l.Contains("b.jpg"));
        Assert.Contains(skipped, l => l.Contains("c.png") && l.Contains("1x1"));
        Assert.False(Directory.Exists(tmp.File("cache")), "--no-cache writes nothing");
    }
}
