using SonicDiffusion.Audio;
using SonicDiffusion.Data;
using SonicDiffusion.Data.Import;
using SonicDiffusion.Data.World;
using SonicDiffusion.Tests.Infrastructure;

namespace SonicDiffusion.Tests;

/// <summary>
/// <c>sonic data import</c> on tiny videos made at test time from world scenes and sounds, laid out like each dataset:
/// what comes out is compared with what went in (frames within H.264 tolerance, audio within AAC tolerance), and bad
/// files are listed with their reasons.
/// </summary>
[Collection("Console")]
public class DatasetImportTests
{
    /// <summary>Mean absolute pixel error allowed for a frame that went through H.264 (4:2:0, CRF 8); other scenes differ by 0.1 or more.</summary>
    private const double FrameTolerance = 0.04;
    /// <summary>Signal-to-error ratio an AAC round trip at 256 kb/s keeps, at least.</summary>
    private const double AudioSnrDb = 20;

    private static float[] Slice(float[] s, double start, double seconds) =>
        s.Skip((int)Math.Round(start * SoundSynth.SampleRate)).Take((int)Math.Round(seconds * SoundSynth.SampleRate)).ToArray();

    private static float[] Wav(string path) => AudioReader.Read(path).Channels[0];

    [FfmpegFact]
    public void LandscapeImportChecksCachesAndResumes()
    {
        using var tmp = new TempDir();
        var videos = new TestVideos(tmp.Path);
        string src = tmp.File("landscape"), outDir = tmp.File("imported");
        var s = Enumerable.Range(0, 12).Select(TestVideos.Scene).ToArray();
        videos.Make(Path.Combine(src, "raining", "0001_0001.mp4"), [s[0], s[1], s[2]], 2, TestVideos.Sound.World);
        videos.Make(Path.Combine(src, "raining", "0001_0002.mp4"), [s[3], s[4], s[5]], 3, TestVideos.Sound.World);
        videos.Make(Path.Combine(src, "wind_noise", "0002_0001.mp4"), [s[6], s[7], s[8]], 2, TestVideos.Sound.World);
        videos.Make(Path.Combine(src, "wind_noise", "0002_0002.mp4"), [s[9], s[10], s[11]], 0.5, TestVideos.Sound.World);
        videos.Make(Path.Combine(src, "wind_noise", "0002_0003.mp4"), [s[0], s[4], s[8]], 2, TestVideos.Sound.Silent);
        videos.Make(Path.Combine(src, "thunder", "0003_0001.mp4"), [s[2], s[5], s[8]], 2, TestVideos.Sound.None);
        TestVideos.MakeCorrupt(Path.Combine(src, "thunder", "0003_0002.mp4"));

        var (code, output, err) = CliTests.Sonic("data", "import", "landscape", "--src", src, "--out", outDir, "--workers", "2", "--seconds", "2.5");
        Assert.True(code == 0, err + output);
        Assert.Contains("3 clips (3 new, 0 already done) → 3 rows", output);
        Assert.Contains("4 left out (1 unreadable, 1 no audio track, 1 too short, 1 silent)", output);
        var report = File.ReadAllLines(Path.Combine(outDir, DatasetImport.ReportName));
        Assert.Equal(5, report.Length);
        Assert.Contains(report, l => l.StartsWith("thunder/0003_0002.mp4: unreadable: 0003_0002: ffprobe:", StringComparison.Ordinal));
        Assert.Contains(report, l => l.StartsWith("thunder/0003_0001.mp4: no audio track:", StringComparison.Ordinal));
        Assert.Contains(report, l => l.StartsWith("wind_noise/0002_0002.mp4: too short:", StringComparison.Ordinal) && l.Contains("less than --min-seconds 1"));
        Assert.Contains(report, l => l.StartsWith("wind_noise/0002_0003.mp4: silent:", StringComparison.Ordinal));

        var manifest = DatasetManifest.Read(Path.Combine(outDir, "manifest.jsonl"));
        Assert.Empty(manifest.Issues);
        Assert.Equal(["0001_0001", "0001_0002", "0002_0001"], manifest.Rows.Select(r => r.Text("clip")));
        Assert.Equal(["raining", "raining", "wind noise"], manifest.Rows.Select(r => r.Label));
        Assert.Equal("a photo of raining", manifest.Rows[0].Caption);
        Assert.Equal("images/0001_0001.png", manifest.Rows[0].Image);
        Assert.All(manifest.Rows, r => Assert.Contains(r.Split, ManifestRow.Splits));

        // The middle frame shows the middle scene; the audio is the first 2.5 s (or the whole 2 s clip), mono 44.1 kHz.
        (int Row, WorldScene Middle, WorldScene[] Others, double Seconds)[] expected =
            [(0, s[1], [s[0], s[2]], 2), (1, s[4], [s[3], s[5]], 2.5), (2, s[7], [s[6], s[8]], 2)];
        foreach (var (row, middle, others, seconds) in expected)
        {
            var r = manifest.Rows[row];
            double d = TestVideos.Difference(manifest.ImagePath(r), middle);
            Assert.True(d < FrameTolerance, $"{r.Image}: mean error {d:0.000} against the middle scene");
            Assert.All(others, o => Assert.True(TestVideos.Difference(manifest.ImagePath(r), o) > 2 * d, $"{r.Image} is as close to another scene"));
            var clip = AudioReader.Read(manifest.AudioPath(r));
            Assert.Equal(1, clip.ChannelCount);
            Assert.Equal(44100, clip.SampleRate);
            Assert.InRange(clip.DurationSeconds, seconds - 0.03, seconds + 0.03);
            var sent = TestVideos.SoundOf(middle, 3);
            double snr = TestVideos.Snr(Slice(sent, 0, seconds), clip.Channels[0]);
            Assert.True(snr > AudioSnrDb, $"{r.Audio}: SNR {snr:0.0} dB against the sound that went in");
        }

        // import → check → cache
        (code, output, err) = CliTests.Sonic("data", "check", manifest.FilePath, "--threads", "2");
        Assert.True(code == 0, err + output);
        Assert.Contains("3 rows, all files readable", output);
        string bundle = TinySonicBundle.WriteBundle(tmp.File("bundle"), seed: 3);
        (code, output, err) = CliTests.Sonic("data", "cache", "--data", manifest.FilePath, "--model", bundle, "--cache", tmp.File("cache"), "--threads", "2");
        Assert.True(code == 0, err + output);
        Assert.Contains("cache ready: 3 of 3 rows (0 unreadable audio, 0 unreadable images skipped)", output);

        // A second run skips the finished clips and rewrites the same manifest; other settings are refused.
        var before = File.GetLastWriteTimeUtc(manifest.AudioPath(manifest.Rows[0]));
        var text = File.ReadAllText(manifest.FilePath);
        (code, output, err) = CliTests.Sonic("data", "import", "landscape", "--src", src, "--out", outDir, "--workers", "2", "--seconds", "2.5");
        Assert.True(code == 0, err + output);
        Assert.Contains("3 clips (0 new, 3 already done)", output);
        Assert.Equal(before, File.GetLastWriteTimeUtc(manifest.AudioPath(manifest.Rows[0])));
        Assert.Equal(text, File.ReadAllText(manifest.FilePath));
        (code, output, err) = CliTests.Sonic("data", "import", "landscape", "--src", src, "--out", outDir, "--seconds", "3");
        Assert.Equal(1, code);
        Assert.Equal($"error: {Path.GetFullPath(outDir)}: was imported with other settings (--seconds 2.5); use the same options to resume, or a new --out", err.Trim());
        Assert.DoesNotContain(Directory.EnumerateFiles(outDir, "*.tmp", SearchOption.AllDirectories), _ => true);
    }
}
