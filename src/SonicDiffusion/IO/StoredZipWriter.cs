using System.Buffers.Binary;
using System.Text;
using SonicDiffusion.Core;

namespace SonicDiffusion.IO;

/// <summary>
/// Writes a zip archive of uncompressed ("stored") entries, each entry's data aligned to 64 bytes in the file (padding
/// in the local header's extra field, as PyTorch's writer does, so readers can map tensors in place). Deterministic:
/// fixed timestamps (1980-01-01), no data descriptors. Archives above 4 GiB (zip64) are refused.
/// </summary>
public sealed class StoredZipWriter : IDisposable
{
    public const int Alignment = 64;
    private readonly Stream _out;
    private readonly string _name;
    private readonly List<(byte[] Name, uint Crc, uint Size, uint Offset)> _entries = new();
    private bool _finished;

    /// <param name="name">Used in error messages.</param>
    public StoredZipWriter(Stream output, string name)
    {
        _out = output;
        _name = name;
    }

    public void Add(string entryName, ReadOnlySpan<byte> data)
    {
        if (_finished) throw new InvalidOperationException("archive already finished");
        var nameBytes = Encoding.UTF8.GetBytes(entryName);
        long offset = _out.Position;
        long dataStart = offset + 30 + nameBytes.Length;
        int extra = 0;
        if (dataStart % Alignment != 0)
        {
            extra = (int)(Alignment - dataStart % Alignment);
            if (extra < 4) extra += Alignment;
        }
        if (offset + 30 + nameBytes.Length + extra + (long)data.Length > uint.MaxValue)
            throw new SonicException($"{_name}: archive would exceed 4 GiB, which needs zip64 (not written); save as .safetensors instead");
        uint crc = Crc32.Compute(data);
        Span<byte> h = stackalloc byte[30];
        BinaryPrimitives.WriteUInt32LittleEndian(h, 0x04034b50);
        BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 20);        // version needed
        BinaryPrimitives.WriteUInt16LittleEndian(h[6..], 0);         // flags
        BinaryPrimitives.WriteUInt16LittleEndian(h[8..], 0);         // stored
        BinaryPrimitives.WriteUInt16LittleEndian(h[10..], 0);        // time 00:00
        BinaryPrimitives.WriteUInt16LittleEndian(h[12..], 0x21);     // date 1980-01-01
        BinaryPrimitives.WriteUInt32LittleEndian(h[14..], crc);
        BinaryPrimitives.WriteUInt32LittleEndian(h[18..], (uint)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(h[22..], (uint)data.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(h[26..], (ushort)nameBytes.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(h[28..], (ushort)extra);
        _out.Write(h);
        _out.Write(nameBytes);
        if (extra > 0)
        {
            var pad = new byte[extra];
            pad[0] = (byte)'F';
            pad[1] = (byte)'B';
            BinaryPrimitives.WriteUInt16LittleEndian(pad.AsSpan(2), (ushort)(extra - 4));
            pad.AsSpan(4).Fill((byte)'Z');
            _out.Write(pad);
        }
        _out.Write(data);
        _entries.Add((nameBytes, crc, (uint)data.Length, (uint)offset));
    }

    /// <summary>Writes the central directory and the end record.</summary>
    public void Finish()
    {
        if (_finished) return;
        _finished = true;
        long cdStart = _out.Position;
        Span<byte> c = stackalloc byte[46];
        foreach (var (name, crc, size, offset) in _entries)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(c, 0x02014b50);
            BinaryPrimitives.WriteUInt16LittleEndian(c[4..], 20);     // made by
            BinaryPrimitives.WriteUInt16LittleEndian(c[6..], 20);     // needed
            BinaryPrimitives.WriteUInt16LittleEndian(c[8..], 0);
            BinaryPrimitives.WriteUInt16LittleEndian(c[10..], 0);
            BinaryPrimitives.WriteUInt16LittleEndian(c[12..], 0);
            BinaryPrimitives.WriteUInt16LittleEndian(c[14..], 0x21);
            BinaryPrimitives.WriteUInt32LittleEndian(c[16..], crc);
            BinaryPrimitives.WriteUInt32LittleEndian(c[20..], size);
            BinaryPrimitives.WriteUInt32LittleEndian(c[24..], size);
            BinaryPrimitives.WriteUInt16LittleEndian(c[28..], (ushort)name.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(c[30..], 0);     // extra
            BinaryPrimitives.WriteUInt16LittleEndian(c[32..], 0);     // comment
            BinaryPrimitives.WriteUInt16LittleEndian(c[34..], 0);     // disk
            BinaryPrimitives.WriteUInt16LittleEndian(c[36..], 0);     // internal attributes
            BinaryPrimitives.WriteUInt32LittleEndian(c[38..], 0);     // external attributes
            BinaryPrimitives.WriteUInt32LittleEndian(c[42..], offset);
            _out.Write(c);
            _out.Write(name);
        }
        long cdSize = _out.Position - cdStart;
        if (_out.Position > uint.MaxValue || _entries.Count > ushort.MaxValue)
            throw new SonicException($"{_name}: archive would exceed the zip limits (4 GiB, 65535 entries) without zip64");
        Span<byte> e = stackalloc byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(e, 0x06054b50);
        BinaryPrimitives.WriteUInt16LittleEndian(e[4..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(e[6..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(e[8..], (ushort)_entries.Count);
        BinaryPrimitives.WriteUInt16LittleEndian(e[10..], (ushort)_entries.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(e[12..], (uint)cdSize);
        BinaryPrimitives.WriteUInt32LittleEndian(e[16..], (uint)cdStart);
        BinaryPrimitives.WriteUInt16LittleEndian(e[20..], 0);
        _out.Write(e);
        _out.Flush();
    }

    public void Dispose() => Finish();

    /// <summary>CRC-32 (IEEE 802.3, reflected, as zip uses).</summary>
    public static class Crc32
    {
        private static readonly uint[] Table = Build();

        private static uint[] Build()
        {
            var t = new uint[256];
            for (uint i = 0; i < 256; i++)
            {
                uint c = i;
                for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                t[i] = c;
            }
            return t;
        }

        public static uint Compute(ReadOnlySpan<byte> data)
        {
            uint c = 0xFFFFFFFFu;
            foreach (byte b in data) c = Table[(c ^ b) & 0xFF] ^ (c >> 8);
            return c ^ 0xFFFFFFFFu;
        }
    }
}
