using System.Buffers.Binary;
using System.Text;
using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.IO;

/// <summary>
/// Writes what <c>torch.save(state_dict, path)</c> writes for a dict of CPU tensors (the container of the released
/// SonicDiffusion <c>.pt</c>/<c>.pth</c> files), so PyTorch loads it with <c>torch.load(path, weights_only=True)</c>:
/// a zip (<see cref="StoredZipWriter"/>) holding <c>archive/data.pkl</c>, <c>archive/byteorder</c>,
/// <c>archive/data/&lt;n&gt;</c> (one raw little-endian storage per tensor) and <c>archive/version</c>.
/// The pickle is protocol 2: a <c>collections.OrderedDict</c> whose values are
/// <c>torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())</c>, the storage being a
/// persistent id <c>('storage', torch.&lt;Type&gt;Storage, '&lt;n&gt;', 'cpu', numel)</c>. Only allow-listed globals are used.
/// Output is deterministic (same tensors → same bytes) and appears atomically (temporary file, then rename).
/// </summary>
public static class TorchZipWriter
{
    public const string ArchiveFolder = "archive";

    /// <summary>
    /// Writes <paramref name="tensors"/> in their enumeration order (any dtype PyTorch has a storage type for). With
    /// <paramref name="wrapper"/> the state dict is stored under that key of a plain dict, as SD <c>.ckpt</c> files
    /// (<c>{'state_dict': ...}</c>) and <c>CLAP_weights_2022.pth</c> (<c>{'model': ...}</c>) do.
    /// </summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, string? wrapper = null)
    {
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in list)
            if (!names.Add(name)) throw new SonicException($"{path}: tensor name '{name}' appears twice");
        string full = Path.GetFullPath(path);
        string dir = Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir)) throw new SonicException($"{path}: cannot write, folder '{dir}' does not exist");
        if (Directory.Exists(full)) throw new SonicException($"{path}: cannot write, a folder has that name");

        var pickle = Pickle(list.Select(kv => (kv.Key, kv.Value)).ToList(), path, wrapper);
        string tmp = full + ".tmp-" + Guid.NewGuid().ToString("N")[..8];
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write))
            using (var zip = new StoredZipWriter(fs, path))
            {
                zip.Add($"{ArchiveFolder}/data.pkl", pickle);
                zip.Add($"{ArchiveFolder}/byteorder", "little"u8);
                for (int i = 0; i < list.Count; i++)
                {
                    using var c = list[i].Value.detach().cpu().contiguous();
                    zip.Add($"{ArchiveFolder}/data/{i}", c.bytes);
                }
                zip.Add($"{ArchiveFolder}/version", "3\n"u8);
                zip.Finish();
            }
            File.Move(tmp, full, true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>The PyTorch storage class of a dtype (<c>FloatStorage</c>, <c>HalfStorage</c>, ...).</summary>
    public static string StorageType(ScalarType t, string source = "tensor") => t switch
    {
        ScalarType.Float32 => "FloatStorage",
        ScalarType.Float16 => "HalfStorage",
        ScalarType.BFloat16 => "BFloat16Storage",
        ScalarType.Float64 => "DoubleStorage",
        ScalarType.Int64 => "LongStorage",
        ScalarType.Int32 => "IntStorage",
        ScalarType.Int16 => "ShortStorage",
        ScalarType.Int8 => "CharStorage",
        ScalarType.Byte => "ByteStorage",
        ScalarType.Bool => "BoolStorage",
        _ => throw new SonicException($"{source}: dtype {t} cannot be written to a PyTorch checkpoint"),
    };

    private static byte[] Pickle(List<(string Name, Tensor Tensor)> tensors, string path, string? wrapper)
    {
        var p = new PickleBuilder();
        p.Proto(2);
        if (wrapper != null)
        {
            p.Op(Op.EmptyDict);
            p.Unicode(wrapper);
        }
        p.Global("collections", "OrderedDict");
        p.Op(Op.EmptyTuple);
        p.Op(Op.Reduce);
        if (tensors.Count > 0)
        {
            for (int start = 0; start < tensors.Count; start += 1000)   // Python's pickler batches SETITEMS the same way
            {
                p.Op(Op.Mark);
                for (int i = start; i < Math.Min(tensors.Count, start + 1000); i++)
                {
                    var (name, t) = tensors[i];
                    p.Unicode(name);
                    p.Global("torch._utils", "_rebuild_tensor_v2");
                    p.Op(Op.Mark);
                    p.Op(Op.Mark);
                    p.Unicode("storage");
                    p.Global("torch", StorageType(t.dtype, $"{path}: '{name}'"));
                    p.Unicode(i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                    p.Unicode("cpu");
                    p.Int(t.numel());
                    p.Op(Op.Tuple);
                    p.Op(Op.BinPersId);
                    p.Int(0);
                    p.IntTuple(t.shape);
                    p.IntTuple(ContiguousStrides(t.shape));
                    p.Op(Op.NewFalse);
                    p.Global("collections", "OrderedDict");
                    p.Op(Op.EmptyTuple);
                    p.Op(Op.Reduce);
                    p.Op(Op.Tuple);
                    p.Op(Op.Reduce);
                }
                p.Op(Op.SetItems);
            }
        }
        if (wrapper != null) p.Op(Op.SetItem);
        p.Op(Op.Stop);
        return p.ToArray();
    }

    private static long[] ContiguousStrides(long[] shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            s[i] = acc;
            acc *= Math.Max(1, shape[i]);
        }
        return s;
    }

    private enum Op : byte
    {
        Mark = (byte)'(', Stop = (byte)'.', EmptyTuple = (byte)')', Tuple = (byte)'t', Tuple1 = 0x85, Tuple2 = 0x86, Tuple3 = 0x87,
        Reduce = (byte)'R', SetItems = (byte)'u', SetItem = (byte)'s', EmptyDict = (byte)'}', BinPersId = (byte)'Q', NewFalse = 0x89, Global = (byte)'c',
        BinPut = (byte)'q', LongBinPut = (byte)'r', BinGet = (byte)'h', LongBinGet = (byte)'j',
        BinInt = (byte)'J', BinInt1 = (byte)'K', BinInt2 = (byte)'M', Long1 = 0x8a, BinUnicode = (byte)'X', Proto = 0x80,
    }

    /// <summary>Pickle opcodes; globals are memoised (written once, then fetched).</summary>
    private sealed class PickleBuilder
    {
        private readonly MemoryStream _s = new();
        private readonly Dictionary<string, int> _memo = new(StringComparer.Ordinal);

        public void Op(Op op) => _s.WriteByte((byte)op);

        public void Proto(byte v)
        {
            Op(TorchZipWriter.Op.Proto);
            _s.WriteByte(v);
        }

        public void Global(string module, string name)
        {
            string key = module + "\n" + name + "\n";
            if (_memo.TryGetValue(key, out int idx))
            {
                if (idx < 256) { Op(TorchZipWriter.Op.BinGet); _s.WriteByte((byte)idx); }
                else { Op(TorchZipWriter.Op.LongBinGet); WriteU32((uint)idx); }
                return;
            }
            Op(TorchZipWriter.Op.Global);
            _s.Write(Encoding.ASCII.GetBytes(key));
            idx = _memo.Count;
            _memo[key] = idx;
            if (idx < 256) { Op(TorchZipWriter.Op.BinPut); _s.WriteByte((byte)idx); }
            else { Op(TorchZipWriter.Op.LongBinPut); WriteU32((uint)idx); }
        }

        public void Unicode(string s)
        {
            var b = Encoding.UTF8.GetBytes(s);
            Op(TorchZipWriter.Op.BinUnicode);
            WriteU32((uint)b.Length);
            _s.Write(b);
        }

        public void Int(long v)
        {
            if (v >= 0 && v < 256) { Op(TorchZipWriter.Op.BinInt1); _s.WriteByte((byte)v); }
            else if (v >= 0 && v < 65536) { Op(TorchZipWriter.Op.BinInt2); Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16LittleEndian(b, (ushort)v); _s.Write(b); }
            else if (v >= int.MinValue && v <= int.MaxValue) { Op(TorchZipWriter.Op.BinInt); WriteU32((uint)(int)v); }
            else
            {
                // LONG1: little-endian two's complement, shortest form
                var bytes = new List<byte>();
                long x = v;
                while (true)
                {
                    bytes.Add((byte)(x & 0xFF));
                    long next = x >> 8;
                    bool signBit = (bytes[^1] & 0x80) != 0;
                    if ((next == 0 && !signBit) || (next == -1 && signBit)) break;
                    x = next;
                }
                Op(TorchZipWriter.Op.Long1);
                _s.WriteByte((byte)bytes.Count);
                _s.Write(bytes.ToArray());
            }
        }

        public void IntTuple(long[] values)
        {
            if (values.Length == 0) { Op(TorchZipWriter.Op.EmptyTuple); return; }
            if (values.Length > 3) Op(TorchZipWriter.Op.Mark);
            foreach (var v in values) Int(v);
            Op(values.Length switch { 1 => TorchZipWriter.Op.Tuple1, 2 => TorchZipWriter.Op.Tuple2, 3 => TorchZipWriter.Op.Tuple3, _ => TorchZipWriter.Op.Tuple });
        }

        private void WriteU32(uint v)
        {
            Span<byte> b = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(b, v);
            _s.Write(b);
        }

        public byte[] ToArray() => _s.ToArray();
    }
}
