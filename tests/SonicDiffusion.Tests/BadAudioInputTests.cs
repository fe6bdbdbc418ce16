using System.Buffers.Binary;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>
/// Bad and extreme audio on the generation path (<see cref="AudioSources"/> + <see cref="ClapFrontEnd"/>): a one-line
/// error naming the file, or a correct result; never a crash or a whole 3-hour file in memory.
/// </summary>
public class BadAudioInputTests
{
    private static string AudioFile(string name) => Path.Combine(RepoPaths.Fixtures, "audio", name);

    private static SonicException FailsWithOneLine(string path, string expected)
    {
        var e = Assert.Throws<SonicException>(() =>
        {
            using var fe = new ClapFrontEnd();
            using var src = AudioSources.Open(path);
            using var w = fe.PrepareWaveform(src);
        });
        Assert.StartsWith(path, e.Message);
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain("\n", e.Message);
        return e;
    }

    private static byte[] WavHeader(int channels, int rate, int bits, ushort tag, long dataBytes)
    {
        var h = new byte[44];
        "RIFF"u8.CopyTo(h);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(4), (uint)Math.Min(uint.MaxValue, 36 + dataBytes));
        "WAVEfmt "u8.CopyTo(h.AsSpan(8));
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(16), 16);
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(20), tag);
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(22), (ushort)channels);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(24), (uint)rate);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(28), (uint)(rate * channels * bits / 8));
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(32), (ushort)(channels * bits / 8));
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(34), (ushort)bits);
        "data"u8.CopyTo(h.AsSpan(36));
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(40), (uint)dataBytes);
        return h;
    }

    [Fact]
    public void EmptyFile()
    {
        using var tmp = new TempDir();
        var p = tmp.File("empty.wav");
        File.WriteAllBytes(p, []);
        FailsWithOneLine(p, "empty");
    }

    [Fact]
    public void ZeroSamples()
    {
        using var tmp = new TempDir();
        var p = tmp.File("zero.wav");
        File.WriteAllBytes(p, WavHeader(2, 44100, 16, 1, 0));
        FailsWithOneLine(p, "no audio samples");
    }

    [Fact]
    public void TextFileRenamedWav()
    {
        using var tmp = new TempDir();
        var p = tmp.File("notes.wav");
        File.WriteAllText(p, "these are my notes, not a sound\n");
        FailsWithOneLine(p, "not a supported audio file");
    }

    [Theory]
    [InlineData(2, "unsupported WAV encoding")]        // MS ADPCM in a WAV
    [InlineData(-1, "Ogg Opus")]
    public void UnsupportedCodec(int wavTag, string expected)
    {
        using var tmp = new TempDir();
        var p = tmp.File("codec.wav");
        byte[] data = wavTag > 0
            ? [.. WavHeader(1, 8000, 16, (ushort)wavTag, 64), .. new byte[64]]
            : [.. "OggS"u8, .. new byte[22], 1, 19, .. "OpusHead"u8, .. new byte[11]];
        File.WriteAllBytes(p, data);
        FailsWithOneLine(p, expected);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void NonFiniteSamples(float bad)
    {
        using var tmp = new TempDir();
        var p = tmp.File("nan.wav");
        var x = new float[44100];
        for (int i = 0; i < x.Length; i++) x[i] = (float)Math.Sin(i * 0.05);
        x[22050] = bad;
        WavWriter.WriteFloat32(p, x, 44100);
        FailsWithOneLine(p, "NaN or infinite");
    }

    [Fact]
    public void TruncatedMp3DecodesWhatIsThere()
    {
        using var tmp = new TempDir();
        var p = tmp.File("cut.mp3");
        var mp3 = File.ReadAllBytes(AudioFile("mp3_stereo_44100.mp3"));
        File.WriteAllBytes(p, mp3[..(mp3.Length * 2 / 3 + 17)]);
        using var fe = new ClapFrontEnd();
        using var src = AudioSources.Open(p);
        int full = AudioReader.Read(AudioFile("mp3_stereo_44100.mp3")).FrameCount;
        Assert.InRange(src.ReadMono(0, full).Length, 1, full - 1);
        using var w = fe.PrepareWaveform(src);
        Assert.Equal(441000, w.shape[0]);
        Assert.True(w.isfinite().all().item<bool>());
        Assert.True(w.abs().max().item<float>() > 0.1f);
    }

    [Fact]
    public void PureSilenceWorks()
    {
        using var tmp = new TempDir();
        var p = tmp.File("silence.wav");
        WavWriter.WritePcm16(p, new float[3 * 16000], 16000);
        using var fe = new ClapFrontEnd();
        using var src = AudioSources.Open(p);
        using var w = fe.PrepareWaveform(src);
        Assert.True(w.eq(0).all().item<bool>());
        using var logmel = fe.LogMel(w.unsqueeze(0));
        Assert.True(logmel.eq(-100f).all().item<bool>(), "silence is the -100 dB floor everywhere");
    }

    [Fact]
    public void HighRateManyChannels()
    {
        using var tmp = new TempDir();
        var p = tmp.File("hires.wav");
        const int rate = 192000, ch = 8, seconds = 12;
        var channels = new float[ch][];
        for (int c = 0; c < ch; c++)
        {
            channels[c] = new float[rate * seconds];
            for (int i = 0; i < channels[c].Length; i++) channels[c][i] = (float)(0.1 * Math.Sin(2 * Math.PI * (200 + 100 * c) * i / rate));
        }
        var clip = new AudioClip(channels, rate);
        WavWriter.Write(p, clip, WavSampleFormat.Pcm24);
        using var fe = new ClapFrontEnd();
        using var src = AudioSources.Open(p);
        Assert.Equal((8, 192000), (src.Channels, src.SampleRate));
        using var windowed = fe.PrepareWaveform(src, 44100);
        using var full = fe.PrepareWaveform(AudioReader.Read(p), 44100);
        Assert.Equal(new long[] { 441000 }, windowed.shape);
        Assert.True((windowed - full).abs().max().item<float>() <= 1e-6f);
        Assert.True(windowed.abs().max().item<float>() > 0.05f);
    }

    /// <summary>A sparse 3-hour 44.1 kHz stereo 16-bit WAV (≈1.9 GB on paper, almost nothing on disk) with a tone at 2 h.</summary>
    [Fact]
    public void ThreeHourWavIsReadBySeeking()
    {
        using var tmp = new TempDir();
        var p = tmp.File("three_hours.wav");
        const int rate = 44100;
        long frames = 3L * 3600 * rate, toneAt = 2L * 3600 * rate;
        var tone = new short[2 * 20 * rate];
        for (int i = 0; i < tone.Length / 2; i++) tone[2 * i] = tone[2 * i + 1] = (short)(8000 * Math.Sin(2 * Math.PI * 330 * i / rate));
        using (var fs = new FileStream(p, FileMode.Create))
        {
            fs.Write(WavHeader(2, rate, 16, 1, frames * 4));
            fs.SetLength(44 + frames * 4);
            fs.Position = 44 + toneAt * 4;
            fs.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(tone.AsSpan()));
        }
        using var fe = new ClapFrontEnd();
        long before = GC.GetTotalAllocatedBytes(true);
        using var src = AudioSources.Open(p);
        Assert.Equal(frames, src.FrameCount);
        using var w = fe.PrepareWaveform(src, toneAt + rate);
        long allocated = GC.GetTotalAllocatedBytes(true) - before;
        Assert.True(allocated < 64L << 20, $"allocated {allocated >> 20} MiB to read a 10 s window");
        var got = w.data<float>().ToArray();
        for (int i = 0; i < got.Length; i += 997)
            Assert.Equal(tone[2 * (i + rate)] / 32768f, got[i]);
        using var start = fe.PrepareWaveform(src);
        Assert.True(start.eq(0).all().item<bool>(), "the first 10 s are silent");
    }

    /// <summary>A 3-hour MP3 (one self-contained MPEG frame of the fixture, repeated): opened and cropped without decoding it all.</summary>
    [Fact]
    public void ThreeHourMp3IsStreamed()
    {
        using var tmp = new TempDir();
        var p = tmp.File("three_hours.mp3");
        var mp3 = File.ReadAllBytes(AudioFile("mp3_mono_22050.mp3"));
        var frame = mp3[..104];   // MPEG-2 layer III, 22.05 kHz, 576 samples, main_data_begin 0
        long count = 3L * 3600 * 22050 / 576 + 1;
        using (var fs = new FileStream(p, FileMode.Create))
            for (long i = 0; i < count; i++) fs.Write(frame);
        using var fe = new ClapFrontEnd();
        long before = GC.GetTotalAllocatedBytes(true);
        using var src = AudioSources.Open(p);
        Assert.True(src.FrameCount >= 3L * 3600 * 22050, $"frame count {src.FrameCount}");
        using var w = fe.PrepareWaveform(src, 30 * 44100);
        long allocated = GC.GetTotalAllocatedBytes(true) - before;
        Assert.Equal(441000, w.shape[0]);
        Assert.True(w.isfinite().all().item<bool>());
        Assert.True(allocated < 400L << 20, $"allocated {allocated >> 20} MiB");
    }

    [Fact]
    public void VeryLongFlacIsRefusedBeforeDecoding()
    {
        using var tmp = new TempDir();
        var p = tmp.File("long.flac");
        var flac = File.ReadAllBytes(AudioFile("flac_s16_stereo_16000.flac"));
        // STREAMINFO total samples (36 bits at byte 8 + 4 + 13.5) set to 3 h at 16 kHz
        var patched = (byte[])flac.Clone();
        ulong packed = BinaryPrimitives.ReadUInt64BigEndian(patched.AsSpan(18));
        packed = (packed & ~0xF_FFFF_FFFFUL) | (ulong)(3L * 3600 * 16000);
        BinaryPrimitives.WriteUInt64BigEndian(patched.AsSpan(18), packed);
        File.WriteAllBytes(p, patched);
        FailsWithOneLine(p, "too long to decode in memory");
    }
}
