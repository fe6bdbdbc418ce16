namespace SonicDiffusion.Audio;

/// <summary>A read-only, seekable view of a stream from <c>offset</c> to its end (audio data after ID3v2 tags).</summary>
internal sealed class OffsetStream(Stream inner, long offset) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => inner.CanSeek;
    public override bool CanWrite => false;
    public override long Length => inner.Length - offset;

    public override long Position
    {
        get => inner.Position - offset;
        set => inner.Position = value + offset;
    }

    public override int Read(byte[] buffer, int index, int count) => inner.Read(buffer, index, count);
    public override int Read(Span<byte> buffer) => inner.Read(buffer);

    public override long Seek(long o, SeekOrigin origin) => origin switch
    {
        SeekOrigin.Begin => inner.Seek(o + offset, SeekOrigin.Begin) - offset,
        SeekOrigin.Current => inner.Seek(o, SeekOrigin.Current) - offset,
        _ => inner.Seek(o, SeekOrigin.End) - offset,
    };

    public override void Flush() { }

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int index, int count) => throw new NotSupportedException();
}
