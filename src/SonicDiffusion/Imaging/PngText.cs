using System.Buffers.Binary;
using System.Text;
using SonicDiffusion.Core;

namespace SonicDiffusion.Imaging;

/// <summary>Reads and inserts PNG text chunks (iTXt, UTF-8), where the generation parameters of an image live.</summary>
public static class PngText
{
    private static readonly byte[] Signature = { 137, 80, 78, 71, 13, 10, 26, 10 };
    private static readonly uint[] CrcTable = BuildCrcTable();

    /// <summary>Returns a copy of <paramref name="png"/> with one iTXt chunk per entry inserted right after IHDR.</summary>
    public static byte[] Insert(byte[] png, IEnumerable<KeyValuePair<string, string>> entries)
    {
        if (png.Length < 33 || !png.AsSpan(0, 8).SequenceEqual(Signature)) throw new SonicException("not a PNG stream");
        int ihdrEnd = 8 + 12 + BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(8));
        using var ms = new MemoryStream(png.Length + 1024);
        ms.Write(png, 0, ihdrEnd);
        foreach (var (key, value) in entries)
        {
            if (key.Length is 0 or > 79 || key.Any(c => c < 32 || c > 126))
                throw new ArgumentException($"PNG text key '{key}' must be 1-79 printable Latin-1 characters");
            var body = new List<byte>();
            body.AddRange(Encoding.Latin1.GetBytes(key));
            body.AddRange(new byte[] { 0, 0, 0, 0, 0 }); // null, compression flag, method, empty language tag, empty translated key
            body.AddRange(Encoding.UTF8.GetBytes(value));
            WriteChunk(ms, "iTXt", body.ToArray());
        }
        ms.Write(png, ihdrEnd, png.Length - ihdrEnd);
        return ms.ToArray();
    }

    /// <summary>All tEXt and iTXt (uncompressed) entries of a PNG file.</summary>
    public static Dictionary<string, string> Read(string path)
    {
        var png = File.ReadAllBytes(path);
        if (png.Length < 8 || !png.AsSpan(0, 8).SequenceEqual(Signature)) throw new SonicException($"{path}: not a PNG file");
        var result = new Dictionary<string, string>();
        int pos = 8;
        while (pos + 12 <= png.Length)
        {
            int len = BinaryPrimitives.ReadInt32BigEndian(png.AsSpan(pos));
            if (len < 0 || pos + 12 + len > png.Length) break;
            var type = Encoding.ASCII.GetString(png, pos + 4, 4);
            var data = png.AsSpan(pos + 8, len);
            if (type == "tEXt")
            {
                int z = data.IndexOf((byte)0);
                if (z > 0) result[Encoding.Latin1.GetString(data[..z])] = Encoding.Latin1.GetString(data[(z + 1)..]);
            }
            else if (type == "iTXt")
            {
                int z = data.IndexOf((byte)0);
                if (z > 0 && data.Length >= z + 3 && data[z + 1] == 0)
                {
                    var rest = data[(z + 3)..];
                    int lang = rest.IndexOf((byte)0);
                    if (lang >= 0)
                    {
                        var afterLang = rest[(lang + 1)..];
                        int tk = afterLang.IndexOf((byte)0);
                        if (tk >= 0) result[Encoding.Latin1.GetString(data[..z])] = Encoding.UTF8.GetString(afterLang[(tk + 1)..]);
                    }
                }
            }
            if (type == "IEND") break;
            pos += 12 + len;
        }
        return result;
    }

    private static void WriteChunk(Stream s, string type, byte[] data)
    {
        Span<byte> len = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(len, data.Length);
        s.Write(len);
        var typeBytes = Encoding.ASCII.GetBytes(type);
        s.Write(typeBytes);
        s.Write(data);
        uint crc = 0xFFFFFFFF;
        crc = Crc(crc, typeBytes);
        crc = Crc(crc, data);
        BinaryPrimitives.WriteUInt32BigEndian(len, crc ^ 0xFFFFFFFF);
        s.Write(len);
    }

    private static uint Crc(uint crc, ReadOnlySpan<byte> data)
    {
        foreach (var b in data) crc = CrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }

    private static uint[] BuildCrcTable()
    {
        var t = new uint[256];
        for (uint n = 0; n < 256; n++)
        {
            uint c = n;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }
}
