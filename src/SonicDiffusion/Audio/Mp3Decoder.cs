using NLayer;

namespace SonicDiffusion.Audio;

/// <summary>
/// MPEG-1/2 layer I/II/III decoding through NLayer (fully managed). NLayer does not trim the encoder delay and
/// padding, so a decoded MP3 is a few hundred to ~2000 samples longer than its source, with leading silence.
/// </summary>
public static class Mp3Decoder
{
    public static AudioClip Decode(byte[] data, int offset = 0)
    {
        using var ms = new MemoryStream(data, offset, data.Length - offset, writable: false);
        using var mpeg = new MpegFile(ms);
        int channels = mpeg.Channels, rate = mpeg.SampleRate;
        if (channels <= 0 || rate <= 0) throw new InvalidDataException("MP3 stream has no valid frame header");
        return InterleavedReader.ReadAll(channels, rate, (buf, off, n) => mpeg.ReadSamples(buf, off, n), "MP3");
    }
}
