using Microsoft.Win32.SafeHandles;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// Fixed-shape rows (float32 or float16) stored as shards <c>&lt;prefix&gt;.00000</c>, <c>&lt;prefix&gt;.00001</c>, ...
/// of a safetensors file and read back row by row from disk (random access), so a cache never has to fit in memory.
/// Rows are produced shard by shard when written.
/// </summary>
public sealed class ShardedRows : IDisposable
{
    private readonly SafeFileHandle _handle;
    private readonly long[] _shardOffsets;
    private readonly long _rowBytes;
    private readonly ScalarType _dtype;

    public string FilePath { get; }
    public long Count { get; }
    public long[] RowShape { get; }
    public long ShardRows { get; }

    private ShardedRows(string path, SafeFileHandle handle, long[] offsets, long count, long[] rowShape, long shardRows, ScalarType dtype)
    {
        FilePath = path;
        _handle = handle;
        _shardOffsets = offsets;
        Count = count;
        RowShape = rowShape;
        ShardRows = shardRows;
        _dtype = dtype;
        _rowBytes = rowShape.Aggregate(1L, (a, b) => a * b) * (dtype == ScalarType.Float16 ? 2 : 4);
    }

    /// <summary>
    /// Safetensors entries for <paramref name="count"/> rows of <paramref name="rowShape"/> in shards of
    /// <paramref name="shardRows"/>; <paramref name="produce"/>(first, n) returns rows first..first+n-1 as [n, ...rowShape].
    /// </summary>
    public static IEnumerable<SafetensorsWriter.Entry> Entries(string prefix, long count, long[] rowShape, long shardRows, ScalarType dtype, Func<long, long, Tensor> produce)
    {
        if (dtype is not (ScalarType.Float32 or ScalarType.Float16)) throw new ArgumentException("rows must be float32 or float16", nameof(dtype));
        for (long first = 0, s = 0; first < count; first += shardRows, s++)
        {
            long start = first, n = Math.Min(shardRows, count - first);
            yield return new SafetensorsWriter.Entry($"{prefix}.{s:D5}", SafetensorsFile.FromScalarType(dtype), [n, .. rowShape], () =>
            {
                using var t = produce(start, n);
                if (!t.shape.SequenceEqual<long>([n, .. rowShape]))
                    throw new InvalidOperationException($"shard {s} of {prefix}: produced [{string.Join(",", t.shape)}]");
                return t.to_type(dtype).contiguous();
            }, true);
        }
    }

    /// <summary>Opens the rows stored under <paramref name="prefix"/> in <paramref name="path"/>.</summary>
    public static ShardedRows Open(string path, string prefix)
    {
        using var file = SafetensorsFile.Open(path);
        var shards = file.Names.Where(n => n.StartsWith(prefix + ".", StringComparison.Ordinal)).OrderBy(n => n, StringComparer.Ordinal).ToList();
        if (shards.Count == 0) throw new SonicException($"{path}: no '{prefix}' rows (damaged cache; delete it to rebuild)");
        var first = file.Entries[shards[0]];
        var dtype = SafetensorsFile.ToScalarType(first.DType, path, first.Name);
        long shardRows = first.Shape[0];
        long[] rowShape = first.Shape[1..];
        long count = 0;
        for (int i = 0; i < shards.Count; i++)
        {
            var e = file.Entries[shards[i]];
            if (!e.Shape[1..].SequenceEqual(rowShape) || e.DType != first.DType || (i < shards.Count - 1 && e.Shape[0] != shardRows))
                throw new SonicException($"{path}: shard '{e.Name}' has shape [{string.Join(",", e.Shape)}] {e.DType}, unlike '{first.Name}' (damaged cache; delete it to rebuild)");
            count += e.Shape[0];
        }
        long dataStart;
        using (var fs = File.OpenRead(path))
        {
            Span<byte> len = stackalloc byte[8];
            fs.ReadExactly(len);
            dataStart = 8 + BitConverter.ToInt64(len);
        }
        var offsets = shards.Select(s => dataStart + file.Entries[s].Begin).ToArray();
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        return new ShardedRows(path, handle, offsets, count, rowShape, shardRows, dtype);
    }

    /// <summary>The rows at <paramref name="rows"/> as float32 [B, ...RowShape].</summary>
    public Tensor Read(long[] rows)
    {
        var buffer = new byte[rows.Length * _rowBytes];
        for (int i = 0; i < rows.Length; i++)
        {
            long r = rows[i];
            if (r < 0 || r >= Count) throw new ArgumentOutOfRangeException(nameof(rows), r, $"{FilePath} has {Count} rows");
            long offset = _shardOffsets[r / ShardRows] + r % ShardRows * _rowBytes;
            var span = buffer.AsSpan((int)(i * _rowBytes), (int)_rowBytes);
            int read = 0;
            while (read < span.Length)
            {
                int n = RandomAccess.Read(_handle, span[read..], offset + read);
                if (n <= 0) throw new SonicException($"{FilePath}: unexpected end of file (damaged cache; delete it to rebuild)");
                read += n;
            }
        }
        using var raw = torch.empty([rows.Length, .. RowShape], _dtype);
        buffer.CopyTo(raw.bytes);
        return _dtype == ScalarType.Float32 ? raw.clone() : raw.to_type(ScalarType.Float32);
    }

    public void Dispose() => _handle.Dispose();
}
