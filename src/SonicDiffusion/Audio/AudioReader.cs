using SonicDiffusion.Core;

namespace SonicDiffusion.Audio;

/// <summary>
/// Reads an audio file of any supported format — WAV, FLAC, MP3, Ogg Vorbis — detected from its content (magic
/// bytes, after any ID3v2 tags), never from the file extension. Every failure (missing, empty, corrupt, truncated,
/// unsupported) is a <see cref="SonicException"/> whose one-line message starts with the file name.
/// </summary>
public static class AudioReader
{
    public static AudioClip Read(string path)
    {
        if (!File.Exists(path)) throw new SonicException($"{path}: audio file not found");
        byte[] data;
        try { data = File.ReadAllBytes(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SonicException($"{path}: cannot read audio file ({FirstLine(e.Message)})", e);
        }
        return Decode(data, path);
    }

    /// <summary>Reads the whole stream and decodes it; <paramref name="name"/> is used in error messages.</summary>
    public static AudioClip Read(Stream stream, string name = "<stream>")
    {
        using var ms = new MemoryStream();
        stream.CopyTo(ms);
        return Decode(ms.ToArray(), name);
    }

    public static AudioClip Decode(byte[] data, string name)
    {
        if (data.Length == 0) throw new SonicException($"{name}: audio file is empty");
        var format = Detect(data, out int offset);
        AudioClip clip;
        try
        {
            clip = format switch
            {
                AudioFileFormat.Wav => WavDecoder.Decode(data.AsSpan(offset)),
                AudioFileFormat.Flac => FlacDecoder.Decode(data, offset),
                AudioFileFormat.Mp3 => Mp3Decoder.Decode(data, offset),
                AudioFileFormat.OggVorbis => VorbisDecoder.Decode(data, offset),
                _ => throw new SonicException($"{name}: {DescribeUnknown(data.AsSpan(offset))}"),
            };
        }
        catch (Exception e) when (e is not SonicException and not OutOfMemoryException)
        {
            throw new SonicException($"{name}: cannot decode {Label(format)} ({FirstLine(e.Message)})", e);
        }
        if (clip.FrameCount == 0) throw new SonicException($"{name}: {Label(format)} contains no audio samples");
        return clip;
    }

    /// <summary>The format by magic bytes; <paramref name="offset"/> is where the audio data starts (after ID3v2 tags).</summary>
    public static AudioFileFormat Detect(ReadOnlySpan<byte> data, out int offset)
    {
        offset = 0;
        while (data.Length - offset >= 10 && data.Slice(offset, 3).SequenceEqual("ID3"u8))
        {
            var h = data.Slice(offset, 10);
            if ((h[6] | h[7] | h[8] | h[9]) >= 0x80) break;
            int size = h[6] << 21 | h[7] << 14 | h[8] << 7 | h[9];
            int skip = 10 + size + ((h[5] & 0x10) != 0 ? 10 : 0);
            if (offset + skip > data.Length) break;
            offset += skip;
        }
        var d = data[offset..];
        if (WavDecoder.IsWav(d)) return AudioFileFormat.Wav;
        if (FlacDecoder.IsFlac(d)) return AudioFileFormat.Flac;
        if (d.Length >= 28 && d[..4].SequenceEqual("OggS"u8))
        {
            int body = 27 + d[26];
            if (d.Length >= body + 7 && d.Slice(body, 7).SequenceEqual("\u0001vorbis"u8)) return AudioFileFormat.OggVorbis;
            return AudioFileFormat.Unknown;
        }
        if (IsMpegAudioFrameHeader(d)) return AudioFileFormat.Mp3;
        return AudioFileFormat.Unknown;
    }

    private static bool IsMpegAudioFrameHeader(ReadOnlySpan<byte> d) =>
        d.Length >= 4 && d[0] == 0xFF && (d[1] & 0xE0) == 0xE0
        && ((d[1] >> 3) & 3) != 1      // MPEG version not reserved
        && ((d[1] >> 1) & 3) != 0      // layer not reserved (also rules out ADTS AAC)
        && (d[2] >> 4) != 15           // bitrate index valid
        && ((d[2] >> 2) & 3) != 3;     // sample rate index valid

    private static string DescribeUnknown(ReadOnlySpan<byte> d)
    {
        string? what = null;
        if (d.Length >= 36 && d[..4].SequenceEqual("OggS"u8))
        {
            var body = d[(27 + d[26])..];
            what = body.StartsWith("OpusHead"u8) ? "Ogg Opus" : body.StartsWith("\u007FFLAC"u8) ? "Ogg FLAC" : body.StartsWith("Speex"u8) ? "Ogg Speex" : "Ogg (unknown codec)";
        }
        else if (d.Length >= 12 && d.Slice(4, 4).SequenceEqual("ftyp"u8)) what = "MP4/M4A";
        else if (d.Length >= 12 && d[..4].SequenceEqual("FORM"u8)) what = "AIFF";
        else if (d.Length >= 4 && d[..4].SequenceEqual("RF64"u8)) what = "RF64 WAV";
        else if (d.Length >= 2 && d[0] == 0xFF && (d[1] & 0xF6) == 0xF0) what = "AAC (ADTS)";
        else if (d.Length >= 4 && d[..4].SequenceEqual("RIFF"u8)) what = "RIFF but not WAVE";
        string head = Convert.ToHexString(d[..Math.Min(8, d.Length)]);
        return what != null
            ? $"unsupported audio format ({what}); supported: WAV, FLAC, MP3, Ogg Vorbis"
            : $"not a supported audio file (WAV, FLAC, MP3, Ogg Vorbis); it starts with bytes {head}";
    }

    private static string Label(AudioFileFormat f) => f switch
    {
        AudioFileFormat.Wav => "WAV",
        AudioFileFormat.Flac => "FLAC",
        AudioFileFormat.Mp3 => "MP3",
        AudioFileFormat.OggVorbis => "Ogg Vorbis",
        _ => "audio",
    };

    private static string FirstLine(string s)
    {
        var line = s.Split('\n')[0].Trim();
        return line.Length == 0 ? "unknown error" : line;
    }
}
