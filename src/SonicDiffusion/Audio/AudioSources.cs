using System.Buffers.Binary;
using SonicDiffusion.Core;

namespace SonicDiffusion.Audio;

/// <summary>
/// Opens an audio file for windowed reading, by content (never by extension). How each format avoids loading a long
/// file: WAV is read by seeking (only the header and the requested frames); MP3 and Ogg Vorbis are decoded as a stream
/// up to the end of the requested window, keeping only the window; FLAC is decoded in memory (the whole file), and a
/// FLAC longer than <see cref="MaxInMemorySamples"/> samples (all channels) is refused with one line before decoding.
/// Every failure is a one-line <see cref="SonicException"/> starting with the file name.
/// </summary>
public static class AudioSources
{
    /// <summary>Largest decoded size (samples over all channels) read into memory: 160 M ≈ 30 min of 44.1 kHz stereo.</summary>
    public const long MaxInMemorySamples = 160_000_000;

    public static IAudioSource Open(string path)
    {
        if (Directory.Exists(path)) throw new SonicException($"{path}: is a folder, not an audio file");
        if (!File.Exists(path)) throw new SonicException($"{path}: audio file not found");
        long size;
        byte[] head;
        long offset;
        try
        {
            using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
            size = fs.Length;
            if (size == 0) throw new SonicException($"{path}: audio file is empty");
            offset = SkipId3(fs);
            fs.Position = offset;
            head = new byte[(int)Math.Min(64 * 1024, size - offset)];
            fs.ReadExactly(head);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SonicException($"{path}: cannot read audio file ({e.Message.Split('\n')[0].Trim()})", e);
        }

        var format = AudioReader.Detect(head, out int inner);
        offset += inner;
        IAudioSource source = format switch
        {
            AudioFileFormat.Wav => new WavFileSource(path, offset),
            AudioFileFormat.Mp3 => StreamedDecoderSource.OpenMp3(path, offset),
            AudioFileFormat.OggVorbis => StreamedDecoderSource.OpenVorbis(path, offset),
            AudioFileFormat.Flac => OpenFlac(path, head.AsSpan(inner), size),
            _ => throw Unsupported(path, head),
        };
        if (source.FrameCount <= 0)
        {
            source.Dispose();
            throw new SonicException($"{path}: {Label(format)} contains no audio samples");
        }
        return source;
    }

    private static SonicException Unsupported(string path, byte[] head)
    {
        try
        {
            AudioReader.Decode(head, path);
        }
        catch (SonicException e)
        {
            return e;
        }
        return new SonicException($"{path}: not a supported audio file (WAV, FLAC, MP3, Ogg Vorbis)");
    }

    private static IAudioSource OpenFlac(string path, ReadOnlySpan<byte> head, long fileSize)
    {
        // STREAMINFO is the first metadata block: total samples per channel and channel count, before decoding anything.
        long total = 0;
        int channels = 1;
        if (head.Length >= 4 + 4 + 34 && (head[4] & 0x7F) == 0)
        {
            ulong packed = BinaryPrimitives.ReadUInt64BigEndian(head[(8 + 10)..]);
            channels = (int)((packed >> 41) & 7) + 1;
            total = (long)(packed & 0xF_FFFF_FFFFUL);
            int rate = (int)(packed >> 44);
            if (total * channels > MaxInMemorySamples)
                throw new SonicException($"{path}: FLAC of {Duration(total, rate)} is too long to decode in memory (limit {MaxInMemorySamples / 1_000_000} M samples); convert it to WAV (read by seeking) or cut the part you need");
        }
        if (total == 0 && fileSize > MaxInMemorySamples * 2)
            throw new SonicException($"{path}: FLAC of {fileSize / (1 << 20)} MiB with unknown length is too large to decode in memory; convert it to WAV or cut the part you need");
        return new ClipAudioSource(AudioReader.Read(path), path, AudioFileFormat.Flac);
    }

    private static long SkipId3(FileStream fs)
    {
        long offset = 0;
        Span<byte> h = stackalloc byte[10];
        while (true)
        {
            fs.Position = offset;
            if (fs.ReadAtLeast(h, 10, throwOnEndOfStream: false) < 10 || !h[..3].SequenceEqual("ID3"u8)) return offset;
            if ((h[6] | h[7] | h[8] | h[9]) >= 0x80) return offset;
            long tag = 10 + (h[6] << 21 | h[7] << 14 | h[8] << 7 | h[9]) + ((h[5] & 0x10) != 0 ? 10 : 0);
            if (offset + tag > fs.Length) return offset;
            offset += tag;
        }
    }

    private static string Duration(long frames, int rate)
    {
        double s = rate > 0 ? (double)frames / rate : 0;
        return s >= 3600 ? $"{s / 3600:0.0} h" : s >= 60 ? $"{s / 60:0.0} min" : $"{s:0.0} s";
    }

    internal static string Label(AudioFileFormat f) => f switch
    {
        AudioFileFormat.Wav => "WAV",
        AudioFileFormat.Flac => "FLAC",
        AudioFileFormat.Mp3 => "MP3",
        AudioFileFormat.OggVorbis => "Ogg Vorbis",
        _ => "audio",
    };
}
