using System.Buffers.Binary;

namespace SonicDiffusion.Audio;

public enum WavSampleFormat { Pcm8, Pcm16, Pcm24, Pcm32, Float32, Float64 }

/// <summary>
/// Writes a canonical RIFF/WAVE file (fmt + data chunks; format tag PCM or IEEE float, never EXTENSIBLE).
/// PCM quantisation is round(x · 2^(bits-1)) clamped to the integer range, so a clip read by <see cref="WavDecoder"/>
/// from a PCM file of the same width is written back bit-identically. NaN is written as 0.
/// </summary>
public static class WavWriter
{
    /// <summary>Writes atomically (temp file + rename), creating the folder if needed.</summary>
    public static void Write(string path, AudioClip clip, WavSampleFormat format = WavSampleFormat.Pcm16)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = full + ".tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
                Write(fs, clip, format);
            File.Move(tmp, full, true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public static void WritePcm16(string path, AudioClip clip) => Write(path, clip, WavSampleFormat.Pcm16);
    public static void WriteFloat32(string path, AudioClip clip) => Write(path, clip, WavSampleFormat.Float32);
    public static void WritePcm16(string path, float[] mono, int sampleRate) => Write(path, AudioClip.FromMono(mono, sampleRate), WavSampleFormat.Pcm16);
    public static void WriteFloat32(string path, float[] mono, int sampleRate) => Write(path, AudioClip.FromMono(mono, sampleRate), WavSampleFormat.Float32);

    public static void Write(Stream stream, AudioClip clip, WavSampleFormat format)
    {
        int bits = format switch
        {
            WavSampleFormat.Pcm8 => 8, WavSampleFormat.Pcm16 => 16, WavSampleFormat.Pcm24 => 24,
            WavSampleFormat.Pcm32 or WavSampleFormat.Float32 => 32, _ => 64,
        };
        bool isFloat = format is WavSampleFormat.Float32 or WavSampleFormat.Float64;
        int bytes = bits / 8, channels = clip.ChannelCount, frames = clip.FrameCount;
        long dataBytes = (long)frames * channels * bytes;
        if (dataBytes + 36 > uint.MaxValue) throw new ArgumentException($"clip too long for a WAV file ({dataBytes} data bytes)", nameof(clip));

        var header = new byte[44];
        "RIFF"u8.CopyTo(header);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(4), (uint)(36 + dataBytes + (dataBytes & 1)));
        "WAVEfmt "u8.CopyTo(header.AsSpan(8));
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(16), 16);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(20), isFloat ? WavDecoder.FormatIeeeFloat : WavDecoder.FormatPcm);
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(22), checked((ushort)channels));
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(24), (uint)clip.SampleRate);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(28), (uint)(clip.SampleRate * channels * bytes));
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(32), (ushort)(channels * bytes));
        BinaryPrimitives.WriteUInt16LittleEndian(header.AsSpan(34), (ushort)bits);
        "data"u8.CopyTo(header.AsSpan(36));
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(40), (uint)dataBytes);
        stream.Write(header);

        const int chunkFrames = 4096;
        var buf = new byte[chunkFrames * channels * bytes];
        for (int start = 0; start < frames; start += chunkFrames)
        {
            int count = Math.Min(chunkFrames, frames - start);
            int p = 0;
            for (int i = start; i < start + count; i++)
                for (int ch = 0; ch < channels; ch++, p += bytes)
                    WriteSample(buf.AsSpan(p, bytes), clip.Channels[ch][i], bits, isFloat);
            stream.Write(buf, 0, p);
        }
        if ((dataBytes & 1) == 1) stream.WriteByte(0);
    }

    private static void WriteSample(Span<byte> dst, float x, int bits, bool isFloat)
    {
        if (isFloat)
        {
            if (bits == 32) BinaryPrimitives.WriteSingleLittleEndian(dst, x);
            else BinaryPrimitives.WriteDoubleLittleEndian(dst, x);
            return;
        }
        double scale = Math.ScaleB(1.0, bits - 1);
        double q = float.IsNaN(x) ? 0 : Math.Round(x * scale, MidpointRounding.AwayFromZero);
        long v = (long)Math.Clamp(q, -scale, scale - 1);
        switch (bits)
        {
            case 8: dst[0] = (byte)(v + 128); break;
            case 16: BinaryPrimitives.WriteInt16LittleEndian(dst, (short)v); break;
            case 24: dst[0] = (byte)v; dst[1] = (byte)(v >> 8); dst[2] = (byte)(v >> 16); break;
            default: BinaryPrimitives.WriteInt32LittleEndian(dst, (int)v); break;
        }
    }
}
