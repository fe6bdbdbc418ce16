using System.Buffers.Binary;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>Audio decoding against the files of tests/fixtures/audio (made by make_audio.sh with python/sox/flac/lame/oggenc).</summary>
public class AudioReaderTests
{
    private static string AudioFile(string name) => Path.Combine(RepoPaths.Fixtures, "audio", name);

    /// <summary>The 8-bit pattern of make_sources.py: value (n·(7 + 4c) + 31c) mod 256 − 128, scaled to ±1.</summary>
    private static float Pattern(int n, int c) => ((n * (7 + 4 * c) + 31 * c) % 256 - 128) / 128f;

    [Theory]
    [InlineData("wav_u8_stereo_8000.wav", 2, 8000, WavDecoder.FormatPcm, WavDecoder.FormatPcm, 8)]
    [InlineData("wav_s16_mono_11025.wav", 1, 11025, WavDecoder.FormatPcm, WavDecoder.FormatPcm, 16)]
    [InlineData("wav_s24_stereo_22050.wav", 2, 22050, WavDecoder.FormatPcm, WavDecoder.FormatPcm, 24)]
    [InlineData("wav_s32_stereo_48000.wav", 2, 48000, WavDecoder.FormatPcm, WavDecoder.FormatPcm, 32)]
    [InlineData("wav_f32_stereo_8000.wav", 2, 8000, WavDecoder.FormatIeeeFloat, WavDecoder.FormatIeeeFloat, 32)]
    [InlineData("wav_f64_stereo_8000.wav", 2, 8000, WavDecoder.FormatIeeeFloat, WavDecoder.FormatIeeeFloat, 64)]
    [InlineData("wav_s24ext_stereo_8000.wav", 2, 8000, WavDecoder.FormatExtensible, WavDecoder.FormatPcm, 24)]
    [InlineData("wav_s16ext_3ch_16000.wav", 3, 16000, WavDecoder.FormatExtensible, WavDecoder.FormatPcm, 16)]
    public void WavFormatsDecodeExactly(string file, int channels, int rate, ushort tag, ushort subFormat, int bits)
    {
        var path = AudioFile(file);
        WavDecoder.Decode(File.ReadAllBytes(path), out var fmt);
        Assert.Equal((tag, subFormat, bits), (fmt.FormatTag, fmt.SubFormat, fmt.BitsPerSample));

        var clip = AudioReader.Read(path);
        Assert.Equal(channels, clip.ChannelCount);
        Assert.Equal(rate, clip.SampleRate);
        Assert.Equal(400, clip.FrameCount);
        for (int c = 0; c < channels; c++)
            for (int n = 0; n < 400; n++)
                Assert.True(Pattern(n, c) == clip.Channels[c][n], $"{file} ch {c} n {n}: {clip.Channels[c][n]} != {Pattern(n, c)}");
    }

    [Fact]
    public void MultichannelDownmixIsTheChannelMean()
    {
        var clip = AudioReader.Read(AudioFile("wav_s16ext_3ch_16000.wav"));
        var mono = clip.ToMono();
        for (int n = 0; n < clip.FrameCount; n++)
            Assert.Equal((Pattern(n, 0) + Pattern(n, 1) + Pattern(n, 2)) / 3f, mono[n]);
        using var t = clip.ToTensor();
        using var torchMean = t.mean(new long[] { 0 });
        Assert.Equal(torchMean.data<float>().ToArray(), mono);
        var stereo = AudioReader.Read(AudioFile("wav_u8_stereo_8000.wav"));
        Assert.Equal(stereo.Channels[0].Zip(stereo.Channels[1], (a, b) => (a + b) / 2f).ToArray(), stereo.ToMono());
        Assert.Equal(1, stereo.Mono().ChannelCount);
    }

    [Theory]
    [InlineData(WavSampleFormat.Pcm8)]
    [InlineData(WavSampleFormat.Pcm16)]
    [InlineData(WavSampleFormat.Pcm24)]
    [InlineData(WavSampleFormat.Pcm32)]
    [InlineData(WavSampleFormat.Float32)]
    [InlineData(WavSampleFormat.Float64)]
    public void WavWriterRoundTrips(WavSampleFormat format)
    {
        using var tmp = RepoPaths.NewTemp();
        var clip = new AudioClip([Enumerable.Range(0, 301).Select(n => Pattern(n, 0)).ToArray(),
                                  Enumerable.Range(0, 301).Select(n => Pattern(n, 1)).ToArray()], 12345);
        var path = tmp.File("out.wav");
        WavWriter.Write(path, clip, format);
        var back = AudioReader.Read(path);
        Assert.Equal(12345, back.SampleRate);
        Assert.Equal(clip.Channels[0], back.Channels[0]);
        Assert.Equal(clip.Channels[1], back.Channels[1]);
    }

    [Fact]
    public void WavWriterQuantisesAndClamps()
    {
        using var tmp = RepoPaths.NewTemp();
        float[] x = [0.1f, -0.1f, 1.5f, -2f, float.NaN, 1f / 3];
        WavWriter.WritePcm16(tmp.File("a.wav"), x, 16000);
        var pcm = AudioReader.Read(tmp.File("a.wav")).Channels[0];
        Assert.Equal(new[] { 3277 / 32768f, -3277 / 32768f, 32767 / 32768f, -1f, 0f, 10923 / 32768f }, pcm);
        WavWriter.WriteFloat32(tmp.File("b.wav"), x, 16000);
        var f = AudioReader.Read(tmp.File("b.wav")).Channels[0];
        Assert.Equal(x.Where(v => !float.IsNaN(v)), f.Where(v => !float.IsNaN(v)));
    }

    [Fact]
    public void WavChunksAreWalkedAndStreamedSizesAccepted()
    {
        var clip = new AudioClip([[0.5f, -0.25f, 0.125f]], 8000);
        var ms = new MemoryStream();
        WavWriter.Write(ms, clip, WavSampleFormat.Pcm16);
        var plain = ms.ToArray();
        // insert an odd-sized LIST chunk (with its pad byte) between "WAVE" and "fmt "
        byte[] list = [.. "LIST"u8, 3, 0, 0, 0, 1, 2, 3, 0];
        var withList = plain[..12].Concat(list).Concat(plain[12..]).ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(withList.AsSpan(4), (uint)(withList.Length - 8));
        Assert.Equal(clip.Channels[0], AudioReader.Decode(withList, "list.wav").Channels[0]);
        // a writer that streamed to a pipe leaves the data size at 0xFFFFFFFF
        var streamed = (byte[])plain.Clone();
        BinaryPrimitives.WriteUInt32LittleEndian(streamed.AsSpan(40), 0xFFFFFFFF);
        Assert.Equal(clip.Channels[0], AudioReader.Decode(streamed, "streamed.wav").Channels[0]);
        using var stream = new MemoryStream(plain);
        Assert.Equal(clip.Channels[0], AudioReader.Read(stream, "mem.wav").Channels[0]);
    }

    public static TheoryData<string, string> FlacFiles => new()
    {
        { "flac_s16_stereo_16000.flac", "flac_src_s16_stereo_16000.wav" },
        { "flac_s16_stereo_16000_fixed.flac", "flac_src_s16_stereo_16000.wav" },
        { "flac_s24_stereo_11025.flac", "flac_src_s24_stereo_11025.wav" },
        { "flac_u8_mono_8000.flac", "flac_src_u8_mono_8000.wav" },
        { "flac_s16_3ch_44100.flac", "flac_src_s16_3ch_44100.wav" },
    };

    [Theory]
    [MemberData(nameof(FlacFiles))]
    public void FlacDecodesBitExactToItsWavSource(string flac, string wav)
    {
        var stats = new FlacStreamStats();
        var decoded = FlacDecoder.Decode(File.ReadAllBytes(AudioFile(flac)), stats);
        var source = AudioReader.Read(AudioFile(wav));
        Assert.True(stats.Md5Verified, stats.ToString());
        Assert.Equal(source.SampleRate, decoded.SampleRate);
        Assert.Equal(source.ChannelCount, decoded.ChannelCount);
        for (int c = 0; c < source.ChannelCount; c++)
            Assert.True(source.Channels[c].AsSpan().SequenceEqual(decoded.Channels[c]), $"{flac} channel {c} differs from {wav}");
        var viaReader = AudioReader.Read(AudioFile(flac));
        Assert.Equal(decoded.Channels[0], viaReader.Channels[0]);
    }

    [Fact]
    public void FlacFilesCoverTheDecoderFeatures()
    {
        var all = FlacFiles.Select(row => (string)row[0]).Select(f =>
        {
            var s = new FlacStreamStats();
            FlacDecoder.Decode(File.ReadAllBytes(AudioFile(f)), s);
            return s;
        }).ToList();
        string summary = string.Join("\n", all);
        Assert.True(all.Sum(s => s.ConstantSubframes) > 0, summary);
        Assert.True(all.Sum(s => s.VerbatimSubframes) > 0, summary);
        Assert.True(all.Sum(s => s.FixedSubframes) > 0, summary);
        Assert.True(all.Max(s => s.MaxFixedOrder) >= 2, summary);
        Assert.True(all.Sum(s => s.LpcSubframes) > 0, summary);
        Assert.True(all.Max(s => s.MaxLpcOrder) >= 8, summary);
        Assert.True(all.Sum(s => s.IndependentFrames) > 0, summary);
        Assert.True(all.Sum(s => s.LeftSideFrames) > 0, summary);
        Assert.True(all.Sum(s => s.RightSideFrames) > 0, summary);
        Assert.True(all.Sum(s => s.MidSideFrames) > 0, summary);
        Assert.True(all.Sum(s => s.RiceResiduals) > 0, summary);
        Assert.True(all.Sum(s => s.Rice2Residuals) > 0, summary);
        Assert.True(all.Max(s => s.MaxPartitionOrder) > 0, summary);
        Assert.True(all.Sum(s => s.WastedBitsSubframes) > 0, summary);
        Assert.Equal(new[] { 8, 16, 24 }, all.Select(s => s.BitsPerSample).Distinct().Order());
    }

    [Theory]
    [InlineData("mp3_stereo_44100.mp3", 44100, new[] { 440.0, 1000.0 })]
    [InlineData("mp3_mono_22050.mp3", 22050, new[] { 1000.0 })]
    [InlineData("ogg_stereo_44100.ogg", 44100, new[] { 440.0, 1000.0 })]
    public void LossyFilesDecodeToTheirTones(string file, int rate, double[] tones)
    {
        var clip = AudioReader.Read(AudioFile(file));
        Assert.Equal(rate, clip.SampleRate);
        Assert.Equal(tones.Length, clip.ChannelCount);
        // 0.5 s of source; MP3 decoding keeps the encoder delay and padding (up to ~2 frames of 1152)
        Assert.InRange(clip.DurationSeconds, 0.49, 0.5 + 2 * 1152.0 / rate + 0.01);
        for (int c = 0; c < tones.Length; c++)
        {
            double peak = PeakFrequency(clip.Channels[c], rate);
            Assert.True(Math.Abs(peak - tones[c]) < 5, $"{file} channel {c}: peak {peak:F1} Hz, expected {tones[c]} Hz");
            double rms = Math.Sqrt(clip.Channels[c].Skip(clip.FrameCount / 4).Take(clip.FrameCount / 2).Average(v => (double)v * v));
            Assert.InRange(rms, 0.5 / Math.Sqrt(2) * 0.8, 0.5 / Math.Sqrt(2) * 1.2);
        }
    }

    private static double PeakFrequency(float[] x, int rate)
    {
        using var scope = NewDisposeScope();
        int n = 8192, start = (x.Length - n) / 2;
        var seg = tensor(x.AsSpan(start, n).ToArray()).to_type(ScalarType.Float64) * hann_window(n, dtype: ScalarType.Float64);
        var mag = fft.rfft(seg).abs();
        long bin = mag.argmax().item<long>();
        return bin * (double)rate / n;
    }

    [Fact]
    public void FormatIsDetectedByContentNotExtension()
    {
        using var tmp = RepoPaths.NewTemp();
        foreach (var (src, alias) in new[] { ("mp3_mono_22050.mp3", "looks_like.wav"), ("flac_u8_mono_8000.flac", "looks_like.mp3"),
                                             ("ogg_stereo_44100.ogg", "no_extension"), ("wav_s16_mono_11025.wav", "looks_like.flac") })
        {
            File.Copy(AudioFile(src), tmp.File(alias));
            var a = AudioReader.Read(AudioFile(src));
            var b = AudioReader.Read(tmp.File(alias));
            Assert.Equal(a.SampleRate, b.SampleRate);
            Assert.Equal(a.Channels[0], b.Channels[0]);
        }
        Assert.Equal(AudioFileFormat.Mp3, AudioReader.Detect(File.ReadAllBytes(AudioFile("mp3_mono_22050.mp3")), out _));
        Assert.Equal(AudioFileFormat.OggVorbis, AudioReader.Detect(File.ReadAllBytes(AudioFile("ogg_stereo_44100.ogg")), out _));
    }

    [Fact]
    public void Id3v2TagBeforeFlacIsSkipped()
    {
        var flac = File.ReadAllBytes(AudioFile("flac_u8_mono_8000.flac"));
        byte[] id3 = [.. "ID3"u8, 4, 0, 0, 0, 0, 0, 5, 1, 2, 3, 4, 5];
        var tagged = id3.Concat(flac).ToArray();
        Assert.Equal(AudioFileFormat.Flac, AudioReader.Detect(tagged, out int offset));
        Assert.Equal(15, offset);
        Assert.Equal(AudioReader.Decode(flac, "a").Channels[0], AudioReader.Decode(tagged, "b").Channels[0]);
    }

    public static TheoryData<string, string> BadFiles => new()
    {
        { "empty", "empty" },
        { "text", "not a supported audio file" },
        { "wav_truncated", "WAV data chunk truncated" },
        { "wav_header_only", "WAV has no data chunk" },
        { "wav_alaw", "unsupported WAV encoding" },
        { "flac_truncated", "FLAC" },
        { "flac_corrupt_byte", "CRC mismatch" },
        { "flac_header_only", "truncated" },
        { "ogg_opus", "Ogg Opus" },
        { "mp4", "MP4/M4A" },
        { "missing", "not found" },
    };

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void BadFilesGiveOneLineErrorNamingTheFile(string kind, string expected)
    {
        using var tmp = RepoPaths.NewTemp();
        var path = tmp.File($"bad_{kind}.bin");
        var wav = File.ReadAllBytes(AudioFile("wav_s16_mono_11025.wav"));
        var flac = File.ReadAllBytes(AudioFile("flac_s16_stereo_16000.flac"));
        byte[]? data = kind switch
        {
            "empty" => [],
            "text" => "<html>not audio</html>"u8.ToArray(),
            "wav_truncated" => wav[..(wav.Length - 100)],
            "wav_header_only" => wav[..36],
            "wav_alaw" => Patch(wav, 20, 6),
            "flac_truncated" => flac[..(flac.Length - 300)],
            "flac_corrupt_byte" => Patch(flac, flac.Length / 2, (byte)(flac[flac.Length / 2] ^ 0x10)),
            "flac_header_only" => flac[..42],
            "ogg_opus" => [.. "OggS"u8, .. new byte[22], 1, 19, .. "OpusHead"u8, .. new byte[11]],
            "mp4" => [0, 0, 0, 24, .. "ftypM4A "u8, .. new byte[16]],
            _ => null,
        };
        if (data != null) File.WriteAllBytes(path, data);
        var ex = Assert.Throws<SonicException>(() => AudioReader.Read(path));
        Assert.StartsWith(path + ": ", ex.Message);
        Assert.Contains(expected, ex.Message);
        Assert.DoesNotContain('\n', ex.Message);
    }

    private static byte[] Patch(byte[] data, int at, byte value)
    {
        var copy = (byte[])data.Clone();
        copy[at] = value;
        return copy;
    }

    [Fact]
    public void ClipTensorRoundTrip()
    {
        var clip = AudioReader.Read(AudioFile("wav_s24_stereo_22050.wav"));
        using var t = clip.ToTensor();
        Assert.Equal(new long[] { 2, 400 }, t.shape);
        var back = AudioClip.FromTensor(t, clip.SampleRate);
        Assert.Equal(clip.Channels[1], back.Channels[1]);
        var resampled = Resampler.Resample(clip, 44100);
        Assert.Equal(800, resampled.FrameCount);
    }
}
