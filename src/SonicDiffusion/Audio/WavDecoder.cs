using System.Buffers.Binary;

namespace SonicDiffusion.Audio;

/// <summary>
/// RIFF/WAVE decoder: PCM 8 (unsigned), 16, 24, 32 bit, IEEE float 32/64, plain or WAVE_FORMAT_EXTENSIBLE, any
/// channel count and sample rate. Scaling follows torchaudio: integer samples are divided by 2^(container bits - 1)
/// (8-bit: (u - 128) / 128), float samples are kept (float64 rounded to float32).
/// Errors are <see cref="InvalidDataException"/>s with a one-line message; <see cref="AudioReader"/> adds the file name.
/// </summary>
public static class WavDecoder
{
    public const ushort FormatPcm = 1, FormatIeeeFloat = 3, FormatExtensible = 0xFFFE;

    public static bool IsWav(ReadOnlySpan<byte> data) =>
        data.Length >= 12 && data[..4].SequenceEqual("RIFF"u8) && data.Slice(8, 4).SequenceEqual("WAVE"u8);

    /// <summary>What the fmt chunk says.</summary>
    public readonly record struct WavFormat(ushort FormatTag, ushort SubFormat, int Channels, int SampleRate, int BlockAlign, int BitsPerSample, int ValidBits);

    public static AudioClip Decode(ReadOnlySpan<byte> data) => Decode(data, out _);

    public static AudioClip Decode(ReadOnlySpan<byte> data, out WavFormat format)
    {
        if (!IsWav(data)) throw new InvalidDataException("not a RIFF/WAVE file");
        WavFormat? fmt = null;
        int pos = 12;
        while (true)
        {
            if (pos + 8 > data.Length)
                throw new InvalidDataException(fmt is null ? "WAV has no fmt chunk" : "WAV has no data chunk");
            var id = data.Slice(pos, 4);
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(pos + 4, 4));
            int body = pos + 8;
            long available = data.Length - body;
            if (id.SequenceEqual("fmt "u8))
            {
                if (size < 16 || size > available) throw new InvalidDataException($"WAV fmt chunk is {(size < 16 ? "too short" : "truncated")} ({size} bytes)");
                fmt = ParseFormat(data.Slice(body, (int)size));
            }
            else if (id.SequenceEqual("data"u8))
            {
                if (fmt is null) throw new InvalidDataException("WAV data chunk comes before the fmt chunk");
                long length = size;
                if (size > available)
                {
                    // Writers that stream to a pipe leave the size at 0xFFFFFFFF; anything else that overruns is a cut file.
                    if (size != 0xFFFFFFFF) throw new InvalidDataException($"WAV data chunk truncated (header says {size} bytes, file has {available})");
                    length = available;
                }
                format = fmt.Value;
                return DecodeSamples(data.Slice(body, (int)length), fmt.Value);
            }
            long next = body + (long)size + (size & 1);
            if (next > data.Length) throw new InvalidDataException($"WAV chunk '{Ascii(id)}' truncated");
            pos = (int)next;
        }
    }

    internal static WavFormat ParseFormat(ReadOnlySpan<byte> c)
    {
        ushort tag = BinaryPrimitives.ReadUInt16LittleEndian(c);
        int channels = BinaryPrimitives.ReadUInt16LittleEndian(c[2..]);
        uint rate = BinaryPrimitives.ReadUInt32LittleEndian(c[4..]);
        int blockAlign = BinaryPrimitives.ReadUInt16LittleEndian(c[12..]);
        int bits = BinaryPrimitives.ReadUInt16LittleEndian(c[14..]);
        ushort sub = tag;
        int valid = bits;
        if (tag == FormatExtensible)
        {
            if (c.Length < 40) throw new InvalidDataException($"WAVE_FORMAT_EXTENSIBLE fmt chunk too short ({c.Length} bytes)");
            valid = BinaryPrimitives.ReadUInt16LittleEndian(c[18..]);
            sub = BinaryPrimitives.ReadUInt16LittleEndian(c[24..]);
            if (valid == 0) valid = bits;
        }
        if (channels == 0) throw new InvalidDataException("WAV has 0 channels");
        if (rate == 0 || rate > int.MaxValue) throw new InvalidDataException($"WAV sample rate {rate} is invalid");
        string? encoding = sub switch
        {
            FormatPcm when bits is 8 or 16 or 24 or 32 => "pcm",
            FormatIeeeFloat when bits is 32 or 64 => "float",
            _ => null,
        };
        if (encoding is null)
            throw new InvalidDataException($"unsupported WAV encoding (format tag 0x{sub:X4}{(tag == FormatExtensible ? " in WAVE_FORMAT_EXTENSIBLE" : "")}, {bits} bits); supported: PCM 8/16/24/32-bit, float 32/64-bit");
        if (blockAlign != channels * bits / 8) throw new InvalidDataException($"WAV block align {blockAlign} does not match {channels} channels x {bits} bits");
        if (valid > bits) throw new InvalidDataException($"WAV valid bits {valid} exceed container bits {bits}");
        return new WavFormat(tag, sub, channels, (int)rate, blockAlign, bits, valid);
    }

    /// <summary>Decodes whole frames of raw sample data (a slice of the data chunk starting on a frame boundary).</summary>
    internal static AudioClip DecodeSamples(ReadOnlySpan<byte> d, WavFormat f)
    {
        int frames = d.Length / f.BlockAlign;
        int bytes = f.BitsPerSample / 8;
        var channels = new float[f.Channels][];
        for (int ch = 0; ch < f.Channels; ch++) channels[ch] = new float[frames];
        bool isFloat = f.SubFormat == FormatIeeeFloat;
        for (int ch = 0; ch < f.Channels; ch++)
        {
            var dst = channels[ch];
            int p = ch * bytes;
            for (int i = 0; i < frames; i++, p += f.BlockAlign)
            {
                var s = d.Slice(p, bytes);
                dst[i] = (isFloat, bytes) switch
                {
                    (false, 1) => (s[0] - 128) / 128f,
                    (false, 2) => BinaryPrimitives.ReadInt16LittleEndian(s) / 32768f,
                    (false, 3) => ((s[0] | (s[1] << 8) | (s[2] << 16)) << 8 >> 8) / 8388608f,
                    (false, 4) => BinaryPrimitives.ReadInt32LittleEndian(s) / 2147483648f,
                    (true, 4) => BinaryPrimitives.ReadSingleLittleEndian(s),
                    _ => (float)BinaryPrimitives.ReadDoubleLittleEndian(s),
                };
            }
        }
        return new AudioClip(channels, f.SampleRate);
    }

    /// <summary>
    /// Reads only the chunk headers of a WAV stream (seeking past other chunks) and returns the format and where the
    /// sample data lies, so a window of a huge file can be read without loading it. Same checks and messages as
    /// <see cref="Decode(ReadOnlySpan{byte})"/>; a data chunk longer than the stream is an error unless its size is the
    /// streaming placeholder 0xFFFFFFFF.
    /// </summary>
    public static (WavFormat Format, long DataOffset, long DataLength) ReadLayout(Stream s)
    {
        Span<byte> head = stackalloc byte[12];
        s.Position = 0;
        if (s.ReadAtLeast(head, 12, throwOnEndOfStream: false) < 12 || !IsWav(head)) throw new InvalidDataException("not a RIFF/WAVE file");
        WavFormat? fmt = null;
        long pos = 12, length = s.Length;
        Span<byte> ch = stackalloc byte[8];
        while (true)
        {
            s.Position = pos;
            if (pos + 8 > length || s.ReadAtLeast(ch, 8, throwOnEndOfStream: false) < 8)
                throw new InvalidDataException(fmt is null ? "WAV has no fmt chunk" : "WAV has no data chunk");
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(ch[4..]);
            long body = pos + 8, available = length - body;
            if (ch[..4].SequenceEqual("fmt "u8))
            {
                if (size < 16 || size > available) throw new InvalidDataException($"WAV fmt chunk is {(size < 16 ? "too short" : "truncated")} ({size} bytes)");
                if (size > 4096) throw new InvalidDataException($"WAV fmt chunk is implausibly large ({size} bytes)");
                var fmtBytes = new byte[size];
                s.ReadExactly(fmtBytes);
                fmt = ParseFormat(fmtBytes);
            }
            else if (ch[..4].SequenceEqual("data"u8))
            {
                if (fmt is null) throw new InvalidDataException("WAV data chunk comes before the fmt chunk");
                long dataLength = size;
                if (size > available)
                {
                    if (size != 0xFFFFFFFF) throw new InvalidDataException($"WAV data chunk truncated (header says {size} bytes, file has {available})");
                    dataLength = available;
                }
                return (fmt.Value, body, dataLength);
            }
            long next = body + size + (size & 1);
            if (next > length) throw new InvalidDataException($"WAV chunk '{Ascii(ch[..4])}' truncated");
            pos = next;
        }
    }

    private static string Ascii(ReadOnlySpan<byte> id)
    {
        Span<char> c = stackalloc char[id.Length];
        for (int i = 0; i < id.Length; i++) c[i] = id[i] is >= 32 and < 127 ? (char)id[i] : '?';
        return new string(c);
    }
}
