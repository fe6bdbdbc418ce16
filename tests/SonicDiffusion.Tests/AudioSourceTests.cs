using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>Windowed audio reading (<see cref="AudioSources"/>) and the CLAP crop taken from a window.</summary>
public class AudioSourceTests
{
    private static string AudioFile(string name) => Path.Combine(RepoPaths.Fixtures, "audio", name);

    public static TheoryData<string> FixtureFiles => new(Directory.GetFiles(Path.Combine(RepoPaths.Fixtures, "audio"))
        .Select(Path.GetFileName).Where(f => f!.EndsWith(".wav") || f.EndsWith(".flac") || f.EndsWith(".mp3") || f.EndsWith(".ogg")).Order(StringComparer.Ordinal)!);

    [Theory]
    [MemberData(nameof(FixtureFiles))]
    public void WindowsEqualTheInMemoryDecode(string file)
    {
        var path = AudioFile(file);
        var clip = AudioReader.Read(path);
        var mono = clip.ToMono();
        using var src = AudioSources.Open(path);
        Assert.Equal(clip.SampleRate, src.SampleRate);
        Assert.Equal(clip.ChannelCount, src.Channels);
        Assert.Equal(clip.FrameCount, src.FrameCount);
        Assert.Equal(mono, src.ReadMono(0, clip.FrameCount));
        int a = clip.FrameCount / 3, n = clip.FrameCount / 4;
        Assert.Equal(mono.AsSpan(a, n).ToArray(), src.ReadMono(a, n));
        Assert.Equal(mono.AsSpan(5, 7).ToArray(), src.ReadMono(5, 7));           // backwards: restarts the decoder
        Assert.Equal(mono.AsSpan(clip.FrameCount - 3).ToArray(), src.ReadMono(clip.FrameCount - 3, 100));
        Assert.Empty(src.ReadMono(clip.FrameCount + 10, 5));
    }

    private static float[] Signal(int n, int rate, int seed)
    {
        var rng = new Random(seed);
        var x = new float[n];
        for (int i = 0; i < n; i++)
            x[i] = (float)(0.4 * Math.Sin(2 * Math.PI * 440 * i / rate) + 0.3 * Math.Sin(2 * Math.PI * (50 + 3 * i / (double)rate) * i / rate) + 0.1 * (rng.NextDouble() - 0.5));
        return x;
    }

    [Theory]
    [InlineData(48000, 0)]
    [InlineData(48000, 123_457)]
    [InlineData(48000, 661_500)]      // the last possible start for 25 s
    [InlineData(16000, 300_001)]
    [InlineData(22050, 441_000)]
    [InlineData(44100, 7)]
    public void CropFromAWindowEqualsTheCropOfTheWholeResampledClip(int rate, long cropStart)
    {
        using var tmp = new TempDir();
        var path = tmp.File("long.wav");
        int frames = 25 * rate;
        var clip = new AudioClip([Signal(frames, rate, 1), Signal(frames, rate, 2)], rate);
        WavWriter.Write(path, clip, WavSampleFormat.Float32);
        using var fe = new ClapFrontEnd();
        using var full = fe.PrepareWaveform(AudioReader.Read(path), cropStart);
        using var src = AudioSources.Open(path);
        Assert.Equal(25L * 44100, fe.ResampledLength(src));
        using var windowed = fe.PrepareWaveform(src, cropStart);
        Assert.Equal(full.shape, windowed.shape);
        double maxDiff = (full - windowed).abs().max().item<float>();
        Assert.True(maxDiff <= 1e-6, $"max |full - windowed| = {maxDiff}");
    }

    [Fact]
    public void ShortClipsAreTiledAndOffsetsOutsideTheClipAreOneLineErrors()
    {
        using var tmp = new TempDir();
        var path = tmp.File("short.wav");
        WavWriter.WriteFloat32(path, Signal(3 * 16000, 16000, 3), 16000);
        using var fe = new ClapFrontEnd();
        using var src = AudioSources.Open(path);
        using var a = fe.PrepareWaveform(src, 0);
        using var b = fe.PrepareWaveform(AudioReader.Read(path), 0);
        Assert.True(a.equal(b).all().item<bool>());

        var longPath = tmp.File("long.wav");
        WavWriter.WriteFloat32(longPath, Signal(12 * 44100, 44100, 4), 44100);
        using var longSrc = AudioSources.Open(longPath);
        var e = Assert.Throws<SonicException>(() => fe.PrepareWaveform(longSrc, 3 * 44100));
        Assert.Contains("between 0 and 2 s", e.Message);
        Assert.StartsWith(longPath, e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }
}
