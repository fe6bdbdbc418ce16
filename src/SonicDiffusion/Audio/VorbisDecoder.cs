using NVorbis;

namespace SonicDiffusion.Audio;

/// <summary>Ogg Vorbis decoding through NVorbis (first logical stream; samples are not clipped to ±1).</summary>
public static class VorbisDecoder
{
    public static AudioClip Decode(byte[] data, int offset = 0)
    {
        using var ms = new MemoryStream(data, offset, data.Length - offset, writable: false);
        using var reader = new VorbisReader(ms, closeOnDispose: false) { ClipSamples = false };
        int channels = reader.Channels, rate = reader.SampleRate;
        if (channels <= 0 || rate <= 0) throw new InvalidDataException("Ogg Vorbis stream has no valid identification header");
        return InterleavedReader.ReadAll(channels, rate, (buf, off, n) => reader.ReadSamples(buf, off, n), "Ogg Vorbis");
    }
}
