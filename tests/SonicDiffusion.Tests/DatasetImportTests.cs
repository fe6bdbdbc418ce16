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

    [FfmpegFact]
    public void GreatestHitsGivesOneClipPerAnnotatedHit()
    {
        using var tmp = new TempDir();
        var videos = new TestVideos(tmp.Path);
        string src = tmp.File("vis-data"), outDir = tmp.File("gh");
        var s = Enumerable.Range(0, 3).Select(TestVideos.Scene).ToArray();
        var sound = TestVideos.SoundOf(s[1], 3);
        videos.Make(Path.Combine(src, "2015-01-01-00-00-01_denoised.mp4"), s, 3, TestVideos.Sound.World, sound);
        File.WriteAllLines(Path.Combine(src, "2015-01-01-00-00-01_times.txt"),
            ["1.5 wood hit static", "0.4 metal scratch rattle", "soon rock hit static", "2.0 None hit static", ""]);
        videos.Make(Path.Combine(src, "2015-01-01-00-00-02_denoised.mp4"), s, 1, TestVideos.Sound.World);

        var (code, output, err) = CliTests.Sonic("data", "import", "greatest-hits", "--src", src, "--out", outDir, "--workers", "2");
        Assert.True(code == 0, err + output);
        Assert.Contains("2 clips (2 new, 0 already done) → 2 rows", output);
        Assert.Contains("2015-01-01-00-00-01_times.txt:3: bad annotation: expected 'time material action [reaction]'", output);
        Assert.Contains("2015-01-01-00-00-01_times.txt:4: skipped: no material annotated for the hit at 2.0 s", output);
        Assert.Contains("2015-01-01-00-00-02_denoised.mp4: bad annotation: no annotation file 2015-01-01-00-00-02_times.txt beside it", output);

        var manifest = DatasetManifest.Read(Path.Combine(outDir, "manifest.jsonl"));
        Assert.Equal(["wood", "metal"], manifest.Rows.Select(r => r.Label));
        Assert.Equal(["2015-01-01-00-00-01-hit0001", "2015-01-01-00-00-01-hit0002"], manifest.Rows.Select(r => r.Text("clip")));
        Assert.Single(manifest.Rows.Select(r => r.Split).Distinct());
        Assert.Equal(["hit", "scratch"], manifest.Rows.Select(r => r.Text("action")));
        Assert.Equal([1.5, 0.4], manifest.Rows.Select(r => r.Number("hit_time_s")!.Value));
        // The hit at 1.5 s: audio 0.5–2.5 s, its middle frame (frame 9 of 18) shows the middle scene. The hit at 0.4 s:
        // audio 0–2 s, middle frame 6, the first frame of the middle third (frame 5 would show the first scene).
        Assert.Equal([0.5, 0.0], manifest.Rows.Select(r => r.Number("start_s")!.Value));
        Assert.Equal([1.5, 1.0], manifest.Rows.Select(r => r.Number("frame_time_s")!.Value));
        foreach (var (r, start) in manifest.Rows.Zip([0.5, 0.0]))
        {
            double d = TestVideos.Difference(manifest.ImagePath(r), s[1]);
            Assert.True(d < FrameTolerance, $"{r.Image}: mean error {d:0.000} against the middle scene");
            var audio = Wav(manifest.AudioPath(r));
            Assert.InRange(audio.Length / 44100.0, 1.97, 2.03);
            double snr = TestVideos.Snr(Slice(sound, start, 2), audio);
            Assert.True(snr > AudioSnrDb, $"{r.Audio}: SNR {snr:0.0} dB");
        }
    }

    [FfmpegFact]
    public void RavdessDecodesFileNameCodesAndWritesFrame0()
    {
        using var tmp = new TempDir();
        var videos = new TestVideos(tmp.Path);
        string src = tmp.File("ravdess"), outDir = tmp.File("out");
        var s = Enumerable.Range(0, 6).Select(TestVideos.Scene).ToArray();
        videos.Make(Path.Combine(src, "Actor_01", "01-01-03-01-01-01-01.mp4"), [s[0], s[1], s[2]], 2, TestVideos.Sound.World);
        videos.Make(Path.Combine(src, "Actor_02", "01-02-05-02-02-02-02.mp4"), [s[3], s[4], s[5]], 2, TestVideos.Sound.World);
        TestVideos.MakeCorrupt(Path.Combine(src, "Actor_01", "02-01-03-01-01-01-01.mp4"));
        TestVideos.MakeCorrupt(Path.Combine(src, "Actor_02", "01-01-09-01-01-01-02.mp4"));
        TestVideos.MakeCorrupt(Path.Combine(src, "Actor_02", "01-01-03-01-01-01-05.mp4"));

        var (code, output, err) = CliTests.Sonic("data", "import", "ravdess", "--src", src, "--out", outDir, "--frame0",
            "--caption-template", "a {sex} actor, {emotion}", "--val", "0", "--test", "0");
        Assert.True(code == 0, err + output);
        Assert.Contains("2 clips (2 new, 0 already done) → 2 rows (train 2); 3 left out (2 bad annotation, 1 skipped)", output);
        Assert.Contains("Actor_01/02-01-03-01-01-01-01.mp4: skipped: video-only file (modality 02)", output);
        Assert.Contains("Actor_02/01-01-09-01-01-01-02.mp4: bad annotation: file name '01-01-09-01-01-01-02': emotion code 09 is not valid", output);
        Assert.Contains("Actor_02/01-01-03-01-01-01-05.mp4: bad annotation: file name '01-01-03-01-01-01-05' names actor 05 but lies in Actor_02", output);

        var manifest = DatasetManifest.Read(Path.Combine(outDir, "manifest.jsonl"));
        var (happy, angry) = (manifest.Rows[0], manifest.Rows[1]);
        Assert.Equal("images/01-01-03-01-01-01-01_frame0.png", happy.Image);
        Assert.Equal(("happy", "a male actor, happy", "speech", "normal"), (happy.Label, happy.Caption, happy.Text("vocal_channel"), happy.Text("emotional_intensity")));
        Assert.Equal(("angry", "a female actor, angry", "song", "strong"), (angry.Label, angry.Caption, angry.Text("vocal_channel"), angry.Text("emotional_intensity")));
        Assert.Equal([1.0, 2.0], manifest.Rows.Select(r => r.Number("actor")!.Value));
        Assert.Equal("dogs are sitting by the door", angry.Text("statement"));
        // frame0 is the first video frame: the first scene.
        foreach (var (r, first) in manifest.Rows.Zip([s[0], s[3]]))
        {
            Assert.Equal(0.0, r.Number("frame_time_s"));
            double d = TestVideos.Difference(manifest.ImagePath(r), first);
            Assert.True(d < FrameTolerance, $"{r.Image}: mean error {d:0.000} against the first scene");
        }
    }

    [FfmpegFact]
    public void FolderImportsVideosAndAudioImagePairsWithCaptions()
    {
        using var tmp = new TempDir();
        var videos = new TestVideos(tmp.Path);
        string src = tmp.File("mine"), outDir = tmp.File("out");
        var s = Enumerable.Range(0, 7).Select(TestVideos.Scene).ToArray();
        // a 48 kHz stereo WAV beside a PNG: the import averages the channels and resamples to 44.1 kHz
        var sound = TestVideos.SoundOf(s[3], 2);
        var at48k = Resampler.Resample(sound, 44100, 48000);
        WavWriter.Write(Path.Combine(src, "rain", "a.wav"), new AudioClip([at48k, at48k], 48000), WavSampleFormat.Float32);
        File.WriteAllBytes(Path.Combine(src, "rain", "a.png"), SceneRenderer.RenderPng(s[3]));
        WavWriter.WritePcm16(Path.Combine(src, "rain", "b.wav"), sound, 44100);
        videos.Make(Path.Combine(src, "train", "wind", "c.mp4"), [s[4], s[5], s[6]], 3, TestVideos.Sound.World);
        string captions = tmp.File("captions.csv");
        File.WriteAllText(captions, "image,caption\n/any/where/rain__a.png,\"a rainy street, at dusk\"\n");

        var (code, output, err) = CliTests.Sonic("data", "import", "folder", "--src", src, "--out", outDir, "--frames", "3", "--captions", captions);
        Assert.True(code == 0, err + output);
        Assert.Contains("2 clips (2 new, 0 already done) → 4 rows", output);
        Assert.Contains("rain/b.wav: no image: audio without an image of the same name beside it", output);
        Assert.Contains("captions: 1 of 4 from --captions", output);

        var manifest = DatasetManifest.Read(Path.Combine(outDir, "manifest.jsonl"));
        var pair = manifest.Rows[0];
        Assert.Equal(("rain", "a rainy street, at dusk", "images/rain__a.png"), (pair.Label, pair.Caption, pair.Image));
        Assert.True(TestVideos.Difference(manifest.ImagePath(pair), s[3]) < 1e-6, "a PNG passes through unchanged");
        var audio = AudioReader.Read(manifest.AudioPath(pair));
        Assert.Equal((1, 44100), (audio.ChannelCount, audio.SampleRate));
        double snr = TestVideos.Snr(sound, audio.Channels[0]);
        Assert.True(snr > AudioSnrDb, $"resampled audio: SNR {snr:0.0} dB");

        var frames = manifest.Rows.Skip(1).ToList();
        Assert.All(frames, r => Assert.Equal(("wind", "train", "a photo of wind", "train__wind__c"), (r.Label, r.Split, r.Caption, r.Text("clip"))));
        Assert.Equal(["images/train__wind__c_0.png", "images/train__wind__c_1.png", "images/train__wind__c_2.png"], frames.Select(r => r.Image));
        Assert.Equal([0.5, 1.5, 2.5], frames.Select(r => r.Number("frame_time_s")!.Value));
        foreach (var (r, scene) in frames.Zip(s[4..]))
        {
            double d = TestVideos.Difference(manifest.ImagePath(r), scene);
            Assert.True(d < FrameTolerance, $"{r.Image}: mean error {d:0.000}");
        }
        Assert.Single(frames.Select(r => r.Audio).Distinct());
    }

    [FfmpegFact]
    public void AnImportOfOnlyBadFilesWritesItsReportAndFails()
    {
        using var tmp = new TempDir();
        TestVideos.MakeCorrupt(tmp.File("src/rain/x.mp4"));
        var (code, output, err) = CliTests.Sonic("data", "import", "folder", "--src", tmp.File("src"), "--out", tmp.File("out"));
        Assert.Equal(1, code);
        Assert.Contains("rain/x.mp4: unreadable: rain__x: ffprobe:", output);
        Assert.Equal($"error: no clip could be imported from {tmp.File("src")} (reasons in {tmp.File("out/import-report.txt")})", err.Trim());
        Assert.Equal(2, File.ReadAllLines(tmp.File("out/import-report.txt")).Length);
        Assert.Empty(File.ReadAllText(tmp.File("out/manifest.jsonl")));
    }

    [Fact]
    public void MissingFfmpegIsOneErrorLine()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.File("src/rain"));
        File.WriteAllBytes(tmp.File("src/rain/x.mp4"), [1, 2, 3]);
        var old = Environment.GetEnvironmentVariable(Ffmpeg.PathVariable);
        Environment.SetEnvironmentVariable(Ffmpeg.PathVariable, tmp.File("no/ffmpeg"));
        try
        {
            var (code, _, err) = CliTests.Sonic("data", "import", "landscape", "--src", tmp.File("src"), "--out", tmp.File("out"));
            Assert.Equal(1, code);
            Assert.Equal($"error: {Ffmpeg.PathVariable}={tmp.File("no/ffmpeg")}: ffmpeg or the ffprobe beside it not found", err.Trim());
        }
        finally { Environment.SetEnvironmentVariable(Ffmpeg.PathVariable, old); }
    }
}
