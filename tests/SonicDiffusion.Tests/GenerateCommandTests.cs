using SonicDiffusion.Imaging;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Tests.Infrastructure;

namespace SonicDiffusion.Tests;

/// <summary>`sonic generate` run in-process on a tiny bundle.</summary>
[Collection("Console")]
public class GenerateCommandTests(TinySonicFixture tiny) : IClassFixture<TinySonicFixture>
{
    private static (int Code, string Out, string Err) Sonic(params string[] args) => CliTests.Sonic(args);

    private string[] Fast(params string[] args) => ["generate", "--model", tiny.Bundle, "--steps", "2", "--scheduler", "ddim", .. args];

    private static string OneErrorLine(string err)
    {
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => !l.StartsWith("note: ", StringComparison.Ordinal));
        Assert.StartsWith("error: ", line);
        return line;
    }

    [Fact]
    public void OneSoundGivesOnePngWithEveryParameter()
    {
        using var tmp = new TempDir();
        var png = tmp.File("sub/tone.png");
        Directory.CreateDirectory(tmp.File("sub"));
        var (code, output, err) = Sonic(Fast("--audio", tiny.Tone, "--out", png, "--seed", "3", "--prompt", "a beach", "--audio-guidance", "2",
            "--beta-sites", "1,0.5,2", "--gain", "-6", "--mix", tiny.Noise + ":0.25", "--audio-offset", "0"));
        Assert.True(code == 0, err);
        Assert.Contains("wrote " + png, output);
        var meta = PngText.Read(png);
        Assert.Equal(tiny.Tone, meta["audio"]);
        Assert.Equal("3", meta["seed"]);
        Assert.Equal("a beach", meta["prompt"]);
        Assert.Equal("2", meta["audio_guidance"]);
        Assert.Equal("1,0.5,2", meta["beta_sites"]);
        Assert.Equal("-6", meta["gain_db"]);
        Assert.Equal($"{tiny.Noise}:0.25", meta["mix"]);
        Assert.Equal("64x64", meta["size"]);          // auto: the tiny UNet's sample_size 8 × 8
        Assert.Equal("SonicDiffusion.NET generate", meta["software"]);
        using var image = ImageTensor.Load(png);
        Assert.Equal(new long[] { 1, 3, 64, 64 }, image.shape);
    }

    [Fact]
    public void FolderOfSoundsGivesOnePngEachAndSkipsBadFilesWithOneLine()
    {
        using var tmp = new TempDir();
        var sounds = tmp.File("sounds");
        Directory.CreateDirectory(sounds);
        File.Copy(tiny.Tone, Path.Combine(sounds, "a_tone.wav"));
        File.Copy(tiny.Noise, Path.Combine(sounds, "b_noise.wav"));
        File.WriteAllText(Path.Combine(sounds, "c_notes.wav"), "not a sound");
        File.WriteAllText(Path.Combine(sounds, "readme.txt"), "ignored: not a sound extension");
        var outDir = tmp.File("pngs");
        var (code, output, err) = Sonic(Fast("--audio", sounds, "--out", outDir, "--size", "64"));
        Assert.Equal(1, code);
        Assert.True(File.Exists(Path.Combine(outDir, "a_tone.png")));
        Assert.True(File.Exists(Path.Combine(outDir, "b_noise.png")));
        Assert.False(File.Exists(Path.Combine(outDir, "c_notes.png")));
        var skipped = Assert.Single(err.Split('\n'), l => l.StartsWith("skipped: ", StringComparison.Ordinal));
        Assert.Contains("c_notes.wav", skipped);
        Assert.Contains("wrote 2 of 3 images", output);
    }

    [Fact]
    public void CountGivesOneImagePerSeedAndTheSheetHoldsThemRowBySound()
    {
        using var tmp = new TempDir();
        var sounds = tmp.File("sounds");
        Directory.CreateDirectory(sounds);
        File.Copy(tiny.Tone, Path.Combine(sounds, "a_tone.wav"));
        File.Copy(tiny.Noise, Path.Combine(sounds, "b_noise.wav"));
        var outDir = tmp.File("pngs");
        var sheet = tmp.File("sheet.png");
        var (code, output, err) = Sonic(Fast("--audio", sounds, "--out", outDir, "--size", "32", "--seed", "5", "--count", "3", "--sheet", sheet));
        Assert.True(code == 0, err);
        Assert.Contains("wrote 6 of 6 images", output);
        string[] names = ["a_tone", "b_noise"];
        var cells = names.SelectMany(n => new[] { 5, 6, 7 }.Select(s => Path.Combine(outDir, $"{n}-s{s}.png"))).ToList();
        foreach (var c in cells) Assert.True(File.Exists(c), c);
        Assert.Equal("6", PngText.Read(cells[1])["seed"]);

        using var image = ImageTensor.Load(sheet);
        int g = ContactSheet.Gap;
        Assert.Equal(new long[] { 1, 3, 2 * 32 + g, 3 * 32 + 2 * g }, image.shape);
        for (int i = 0; i < cells.Count; i++)
        {
            using var cell = ImageTensor.Load(cells[i]);
            int row = i / 3, col = i % 3;
            using var crop = image[.., .., (row * (32 + g))..(row * (32 + g) + 32), (col * (32 + g))..(col * (32 + g) + 32)];
            Assert.True(crop.equal(cell).all().item<bool>(), $"sheet cell {row},{col} is not {cells[i]}");
        }
        using (var s5 = ImageTensor.Load(cells[0]))
        using (var s6 = ImageTensor.Load(cells[1]))
            Assert.False(s5.equal(s6).all().item<bool>(), "seeds 5 and 6 gave the same image");
        var meta = PngText.Read(sheet);
        Assert.Equal("a_tone.wav, b_noise.wav", meta["rows"]);
        Assert.Contains("5..7", meta["layout"]);

        // The same seed alone reproduces the sheet's cell.
        var single = tmp.File("single.png");
        (code, _, err) = Sonic(Fast("--audio", Path.Combine(sounds, "b_noise.wav"), "--out", single, "--size", "32", "--seed", "6"));
        Assert.True(code == 0, err);
        using (var a = ImageTensor.Load(single))
        using (var b = ImageTensor.Load(Path.Combine(outDir, "b_noise-s6.png")))
            Assert.True(a.equal(b).all().item<bool>());
    }

    [Theory]
    [InlineData("--count", "0", "--count 0: must be between 1 and 1000")]
    [InlineData("--sheet", "/nonexistent-dir/sheet.png", "--sheet /nonexistent-dir/sheet.png: folder '/nonexistent-dir' does not exist")]
    public void BadCountOrSheetIsOneLine(string option, string value, string message)
    {
        var (code, _, err) = Sonic(Fast("--audio", tiny.Tone, option, value));
        Assert.NotEqual(0, code);
        Assert.Contains(message, OneErrorLine(err));
    }

    [Fact]
    public void OfficialFilesThroughSonic()
    {
        using var tmp = new TempDir();
        using (var model = tiny.Load()) TinySonicBundle.WriteOfficialFiles(model, tmp.File("ckpts"));
        var sd = TinyStableDiffusion.WriteFolder(tmp.File("sd"));
        var png = tmp.File("o.png");
        var (code, output, err) = Sonic("generate", "--model", sd, "--sonic", tmp.File("ckpts"), "--audio", tiny.Tone, "--steps", "2", "--out", png);
        Assert.True(code == 0, err);
        Assert.Contains("gate dict, 24 tensors at 3 sites", err);
        Assert.Contains("tiny.pt", output);
        Assert.Equal(Path.Combine(tmp.File("ckpts"), "tiny.pt"), PngText.Read(png)["model_adapters"]);
    }

    [Theory]
    [InlineData("--beta", "2", "--beta-sites", "1,1,1", "give one or the other")]
    [InlineData("--beta-sites", "1,2", null, null, "3 adapter sites")]
    [InlineData("--mix", "nowhere.wav:0.2", null, null, "nowhere.wav")]
    [InlineData("--guidance", "nan", null, null, "--guidance")]
    [InlineData("--size", "63", null, null, "--size 63")]
    [InlineData("--audio-offset", "-1", null, null, "--audio-offset")]
    public void BadOptionsAreOneErrorLine(string o1, string v1, string? o2, string? v2, string expected)
    {
        var args = Fast("--audio", tiny.Tone, o1, v1).ToList();
        if (o2 != null) args.AddRange([o2, v2!]);
        var (code, _, err) = Sonic(args.ToArray());
        Assert.Equal(1, code);
        Assert.Contains(expected, OneErrorLine(err));
    }

    [Fact]
    public void MissingDefaultModelIsSaidInOneLine()
    {
        if (Directory.Exists(Cli.Commands.GenerateCommand.DefaultModel)) return;
        var (code, _, err) = Sonic("generate", "--audio", tiny.Tone);
        Assert.Equal(1, code);
        Assert.Contains("models/sonic-mini", OneErrorLine(err));
    }

    [Fact]
    public void BadSoundAloneIsOneErrorLine()
    {
        using var tmp = new TempDir();
        var bad = tmp.File("notes.wav");
        File.WriteAllText(bad, "not a sound");
        var (code, _, err) = Sonic(Fast("--audio", bad, "--out", tmp.File("x.png")));
        Assert.Equal(1, code);
        Assert.Contains("notes.wav", OneErrorLine(err));
    }
}
