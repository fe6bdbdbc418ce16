using SonicDiffusion.Core;

namespace SonicDiffusion.Audio;

/// <summary>A WAV file read by seeking: only the header and the requested frames are read (any file size).</summary>
public sealed class WavFileSource : IAudioSource
{
    private readonly Stream _stream;
    private readonly WavDecoder.WavFormat _format;
    private readonly long _dataOffset;

    public string Name { get; }
    public AudioFileFormat Format => AudioFileFormat.Wav;
    public int SampleRate => _format.SampleRate;
    public int Channels => _format.Channels;
    public long FrameCount { get; }

    /// <param name="offset">Where the RIFF header starts (after any ID3v2 tags).</param>
    public WavFileSource(string path, long offset = 0)
    {
        Name = path;
        var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        _stream = offset == 0 ? fs : new OffsetStream(fs, offset);
        try
        {
            (_format, _dataOffset, long dataLength) = WavDecoder.ReadLayout(_stream);
            FrameCount = dataLength / _format.BlockAlign;
        }
        catch (InvalidDataException e)
        {
            _stream.Dispose();
            throw new SonicException($"{path}: cannot decode WAV ({e.Message})", e);
        }
        catch
        {
            _stream.Dispose();
            throw;
        }
    }

    public float[] ReadMono(long start, int count)
    {
        if (start < 0 || count < 0) throw new ArgumentOutOfRangeException(nameof(start));
        long n = Math.Max(0, Math.Min(count, FrameCount - start));
        if (n == 0) return [];
        long bytes = n * _format.BlockAlign;
        if (bytes > Array.MaxLength) throw new SonicException($"{Name}: a window of {n} frames is too large to read at once");
        var buf = new byte[bytes];
        _stream.Position = _dataOffset + start * _format.BlockAlign;
        try { _stream.ReadExactly(buf); }
        catch (EndOfStreamException e) { throw new SonicException($"{Name}: WAV data ends early", e); }
        return WavDecoder.DecodeSamples(buf, _format).ToMono();
    }

    public void Dispose() => _stream.Dispose();
}
