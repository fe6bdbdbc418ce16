using System.Globalization;
using SonicDiffusion.Audio;
using SonicDiffusion.Data.Import;
using SonicDiffusion.Data.World;
using SonicDiffusion.Imaging;

namespace SonicDiffusion.Tests.Infrastructure;

/// <summary>
/// Tiny videos made with ffmpeg from the procedural world: the first, middle and last third of a video show three
/// different scenes, and its sound is a world sound (or silence, or none), so what an importer takes out can be
/// compared with what went in.
/// </summary>
public sealed class TestVideos(string work)
{
    public const int Fps = 6;
    public enum Sound { World, Silent, None }

    private readonly Ffmpeg _ff = Ffmpeg.Locate();
    private int _made;

    public static WorldScene Scene(int index) => WorldGenerator.Plan(5, index);

    /// <summary>The first <paramref name="seconds"/> of the scene's sound, looped when it is shorter.</summary>
    public static float[] SoundOf(WorldScene scene, double seconds)
    {
        var s = WorldGenerator.Sound(scene);
        var n = (int)Math.Round(seconds * SoundSynth.SampleRate);
        return Enumerable.Range(0, n).Select(i => s[i % s.Length]).ToArray();
    }

    /// <summary>An H.264 + AAC MP4 of <paramref name="seconds"/> (a multiple of 1/<see cref="Fps"/>) whose thirds show the three scenes.</summary>
    public void Make(string path, WorldScene[] thirds, double seconds, Sound sound, float[]? samples = null)
    {
        string dir = Path.Combine(work, $"frames{Interlocked.Increment(ref _made)}");
        Directory.CreateDirectory(dir);
        var pngs = thirds.Select(SceneRenderer.RenderPng).ToArray();
        int frames = (int)Math.Round(seconds * Fps);
        for (int n = 0; n < frames; n++) File.WriteAllBytes(Path.Combine(dir, $"f{n:D4}.png"), pngs[Math.Min(2, n * 3 / frames)]);
        var args = new List<string> { "-nostdin", "-v", "error", "-y", "-framerate", Fps.ToString(CultureInfo.InvariantCulture), "-i", Path.Combine(dir, "f%04d.png") };
        string t = seconds.ToString(CultureInfo.InvariantCulture);
        if (sound == Sound.World)
        {
            string wav = Path.Combine(dir, "sound.wav");
            WavWriter.WritePcm16(wav, samples ?? SoundOf(thirds[1], seconds), SoundSynth.SampleRate);
            args.AddRange(["-i", wav]);
        }
        else if (sound == Sound.Silent) args.AddRange(["-f", "lavfi", "-t", t, "-i", "anullsrc=r=44100:cl=mono"]);
        args.AddRange(["-c:v", "libx264", "-preset", "ultrafast", "-crf", "8", "-pix_fmt", "yuv420p", "-t", t]);
        if (sound != Sound.None) args.AddRange(["-c:a", "aac", "-b:a", "256k"]);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        args.Add(path);
        var (code, _, err) = Ffmpeg.Run(_ff.FfmpegPath, args);
        if (code != 0) throw new InvalidOperationException($"ffmpeg could not make {path}: {err}");
        Directory.Delete(dir, true);
    }

    /// <summary>A file that is not a video at all, named like one.</summary>
    public static void MakeCorrupt(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var bytes = new byte[4096];
        new Random(3).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
    }

    /// <summary>Mean absolute difference (0..1) between an imported PNG and the scene it should show.</summary>
    public static double Difference(string png, WorldScene scene)
    {
        using var a = ImageTensor.Load(png);
        using var b = ImageTensor.Decode(SceneRenderer.RenderPng(scene), "scene");
        Assert.Equal(b.shape, a.shape);
        using var d = (a - b).abs().mean();
        return d.item<float>();
    }

    /// <summary>Signal-to-error ratio in dB of <paramref name="actual"/> against <paramref name="expected"/> over their common length.</summary>
    public static double Snr(float[] expected, float[] actual)
    {
        int n = Math.Min(expected.Length, actual.Length);
        double signal = 0, error = 0;
        for (int i = 0; i < n; i++)
        {
            signal += (double)expected[i] * expected[i];
            error += (double)(expected[i] - actual[i]) * (expected[i] - actual[i]);
        }
        return 10 * Math.Log10(signal / Math.Max(error, 1e-30));
    }
}
