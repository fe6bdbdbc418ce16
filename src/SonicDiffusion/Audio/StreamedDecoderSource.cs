using NLayer;
using NVorbis;
using SonicDiffusion.Core;

namespace SonicDiffusion.Audio;

/// <summary>
/// MP3 (NLayer) or Ogg Vorbis (NVorbis) read as a stream: a window is reached by decoding from the start and dropping
/// what lies before it, so memory stays at the window's size whatever the file length, and the samples are exactly
/// those of a full decode (both libraries' seeks land a few samples off the sequential decode, so they are not used).
/// The frame count comes from the container (NLayer: the LAME/Xing tag or a frame scan; NVorbis: the last granule
/// position) and can be wrong for a damaged file; <see cref="ClapFrontEnd.PrepareWaveform(IAudioSource, long)"/> copes.
/// </summary>
public sealed class StreamedDecoderSource : IAudioSource
{
    private sealed class Decoder(IDisposable owner, Func<float[], int, int, int> read) : IDisposable
    {
        public Func<float[], int, int, int> Read { get; } = read;
        public void Dispose() => owner.Dispose();
    }

    private readonly Func<Decoder> _open;
    private Decoder? _decoder;
    private long _position;
    private float[] _buf = [];     // decoded interleaved samples; [_bufStart, _bufEnd) not yet consumed
    private int _bufStart, _bufEnd;

    public string Name { get; }
    public AudioFileFormat Format { get; }
    public int SampleRate { get; }
    public int Channels { get; }
    public long FrameCount { get; }

    private StreamedDecoderSource(string name, AudioFileFormat format, int rate, int channels, long frames, Func<Decoder> open)
    {
        Name = name;
        Format = format;
        SampleRate = rate;
        Channels = channels;
        FrameCount = frames;
        _open = open;
    }

    public static StreamedDecoderSource OpenMp3(string path, long dataOffset)
    {
        Decoder Open(out int channels, out int rate, out long frames)
        {
            var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            try
            {
                var sub = new OffsetStream(fs, dataOffset);
                var mpeg = new MpegFile(sub);
                channels = mpeg.Channels;
                rate = mpeg.SampleRate;
                if (channels <= 0 || rate <= 0) throw new InvalidDataException("MP3 stream has no valid frame header");
                frames = mpeg.Length / (channels * sizeof(float));
                return new Decoder(new Owner(mpeg, fs), (b, o, n) => mpeg.ReadSamples(b, o, n));
            }
            catch
            {
                fs.Dispose();
                throw;
            }
        }
        return Create(path, AudioFileFormat.Mp3, "MP3", Open);
    }

    public static StreamedDecoderSource OpenVorbis(string path, long dataOffset)
    {
        Decoder Open(out int channels, out int rate, out long frames)
        {
            var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
            try
            {
                var reader = new VorbisReader(new OffsetStream(fs, dataOffset), closeOnDispose: false) { ClipSamples = false };
                channels = reader.Channels;
                rate = reader.SampleRate;
                if (channels <= 0 || rate <= 0) throw new InvalidDataException("Ogg Vorbis stream has no valid identification header");
                frames = reader.TotalSamples;
                return new Decoder(new Owner(reader, fs), (b, o, n) => reader.ReadSamples(b, o, n));
            }
            catch
            {
                fs.Dispose();
                throw;
            }
        }
        return Create(path, AudioFileFormat.OggVorbis, "Ogg Vorbis", Open);
    }

    private delegate Decoder OpenFn(out int channels, out int rate, out long frames);

    private static StreamedDecoderSource Create(string path, AudioFileFormat format, string label, OpenFn open)
    {
        Decoder first;
        int channels, rate;
        long frames;
        try { first = open(out channels, out rate, out frames); }
        catch (Exception e) when (e is not SonicException and not OutOfMemoryException)
        {
            throw new SonicException($"{path}: cannot decode {label} ({OneLine(e.Message)})", e);
        }
        var source = new StreamedDecoderSource(path, format, rate, channels, Math.Max(0, frames), () =>
        {
            try { return open(out _, out _, out _); }
            catch (Exception e) when (e is not SonicException and not OutOfMemoryException)
            {
                throw new SonicException($"{path}: cannot decode {label} ({OneLine(e.Message)})", e);
            }
        });
        source._decoder = first;
        source.Label = label;
        return source;
    }

    private string Label { get; set; } = "";

    public float[] ReadMono(long start, int count)
    {
        if (start < 0 || count < 0) throw new ArgumentOutOfRangeException(nameof(start));
        if (start < _position || _decoder is null)
        {
            _decoder?.Dispose();
            _decoder = _open();
            _position = 0;
            _bufStart = _bufEnd = 0;
        }
        try
        {
            Skip(start - _position);
            // The container's length may be over- (a cut file) or under-stated; allocate for what it says, plus slack.
            count = (int)Math.Min(count, Math.Max(0, FrameCount - start) + 65536);
            var channels = new float[Channels][];
            for (int c = 0; c < Channels; c++) channels[c] = new float[count];
            int got = Take(channels, count);
            if (got < count)
                for (int c = 0; c < Channels; c++) Array.Resize(ref channels[c], got);
            return got == 0 ? [] : new AudioClip(channels, SampleRate).ToMono();
        }
        catch (Exception e) when (e is not SonicException and not OutOfMemoryException)
        {
            throw new SonicException($"{Name}: cannot decode {Label} ({OneLine(e.Message)})", e);
        }
    }

    private void Skip(long frames)
    {
        var scratch = new float[Channels][];
        for (int c = 0; c < Channels; c++) scratch[c] = new float[8192];
        while (frames > 0)
        {
            int n = (int)Math.Min(frames, 8192);
            int got = Take(scratch, n);
            if (got == 0) return;
            frames -= got;
        }
    }

    /// <summary>Decodes up to <paramref name="count"/> frames into per-channel arrays; returns the frames written.</summary>
    private int Take(float[][] dst, int count)
    {
        int ch = Channels, done = 0;
        if (_buf.Length == 0) _buf = new float[4096 * ch];
        while (done < count)
        {
            int avail = (_bufEnd - _bufStart) / ch;
            if (avail == 0)
            {
                int rem = _bufEnd - _bufStart;   // a partial frame left by the decoder
                Array.Copy(_buf, _bufStart, _buf, 0, rem);
                _bufStart = 0;
                _bufEnd = rem;
                int got = _decoder!.Read(_buf, rem, _buf.Length - rem);
                if (got <= 0) break;
                _bufEnd += got;
                continue;
            }
            int frames = Math.Min(count - done, avail);
            for (int i = 0; i < frames; i++)
            {
                int p = _bufStart + i * ch;
                for (int c = 0; c < ch; c++) dst[c][done + i] = _buf[p + c];
            }
            _bufStart += frames * ch;
            done += frames;
        }
        _position += done;
        return done;
    }

    public void Dispose()
    {
        _decoder?.Dispose();
        _decoder = null;
    }

    private static string OneLine(string s)
    {
        var line = s.Split('\n')[0].Trim();
        return line.Length == 0 ? "unknown error" : line;
    }

    private sealed class Owner(IDisposable decoder, IDisposable stream) : IDisposable
    {
        public void Dispose()
        {
            decoder.Dispose();
            stream.Dispose();
        }
    }
}
