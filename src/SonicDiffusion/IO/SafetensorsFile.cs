using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.IO;

/// <summary>One tensor's entry in a safetensors header.</summary>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long NumElements => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A safetensors file opened for lazy reading: the header is parsed and validated on open, and each tensor's bytes
/// are read (positional reads, straight into the destination tensor where dtypes agree) only when asked for, so a
/// file never needs to fit in RAM twice and its pages never count towards this process's resident memory.
/// </summary>
public sealed class SafetensorsFile : ITensorSource
{
    private const long MaxHeaderBytes = 100L * 1024 * 1024;
    private readonly SafeFileHandle? _file;
    private readonly long _dataStart;

    public string Path { get; }
    public IReadOnlyDictionary<string, SafetensorsEntry> Entries { get; }
    public IReadOnlyList<string> Names { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    private SafetensorsFile(string path, List<SafetensorsEntry> entries, Dictionary<string, string> metadata, long dataStart, SafeFileHandle? file)
    {
        Path = path;
        Names = entries.Select(e => e.Name).ToList();
        Entries = entries.ToDictionary(e => e.Name);
        Metadata = metadata;
        _dataStart = dataStart;
        _file = file;
    }

    public static int ElementSize(string dtype) => dtype switch
    {
        "F64" or "I64" or "U64" => 8,
        "F32" or "I32" or "U32" => 4,
        "F16" or "BF16" or "I16" or "U16" => 2,
        "I8" or "U8" or "BOOL" => 1,
        _ => -1,
    };

    public static ScalarType ToScalarType(string dtype, string file, string key) => dtype switch
    {
        "F64" => ScalarType.Float64,
        "F32" => ScalarType.Float32,
        "F16" => ScalarType.Float16,
        "BF16" => ScalarType.BFloat16,
        "I64" => ScalarType.Int64,
        "I32" => ScalarType.Int32,
        "I16" => ScalarType.Int16,
        "I8" => ScalarType.Int8,
        "U8" => ScalarType.Byte,
        "BOOL" => ScalarType.Bool,
        _ => throw new SonicException($"{file}: tensor '{key}' has dtype '{dtype}', which is not supported"),
    };

    public static string FromScalarType(ScalarType t) => t switch
    {
        ScalarType.Float64 => "F64",
        ScalarType.Float32 => "F32",
        ScalarType.Float16 => "F16",
        ScalarType.BFloat16 => "BF16",
        ScalarType.Int64 => "I64",
        ScalarType.Int32 => "I32",
        ScalarType.Int16 => "I16",
        ScalarType.Int8 => "I8",
        ScalarType.Byte => "U8",
        ScalarType.Bool => "BOOL",
        _ => throw new SonicException($"dtype {t} cannot be stored in safetensors"),
    };

    /// <summary>Reads and validates the header only (no tensor data is touched).</summary>
    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path)) throw new SonicException($"{path}: file not found");
        long fileLen = new FileInfo(path).Length;
        if (fileLen < 8) throw new SonicException($"{path}: not a safetensors file (only {fileLen} bytes; the 8-byte header length is missing)");
        byte[] headerBytes;
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            Span<byte> lenBuf = stackalloc byte[8];
            fs.ReadExactly(lenBuf);
            long n = BitConverter.ToInt64(lenBuf);
            if (n <= 0 || n > MaxHeaderBytes || n > fileLen - 8)
                throw new SonicException($"{path}: not a safetensors file or truncated (header length {n}, file length {fileLen})");
            headerBytes = new byte[n];
            fs.ReadExactly(headerBytes);
        }
        long dataStart = 8 + headerBytes.LongLength;
        long dataLen = fileLen - dataStart;
        var entries = new List<SafetensorsEntry>();
        var metadata = new Dictionary<string, string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        if (!System.Text.Unicode.Utf8.IsValid(headerBytes)) throw new SonicException($"{path}: safetensors header is not valid UTF-8 (file damaged?)");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(headerBytes); }
        catch (JsonException e) { throw new SonicException($"{path}: safetensors header is not valid JSON ({e.Message.Split('\n')[0]})"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new SonicException($"{path}: safetensors header is not a JSON object");
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object) throw new SonicException($"{path}: __metadata__ is not an object");
                    foreach (var m in prop.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
                    continue;
                }
                if (!seen.Add(prop.Name)) throw new SonicException($"{path}: tensor '{prop.Name}' appears twice in the header");
                entries.Add(ParseEntry(path, prop));
            }
        }
        var byOffset = entries.OrderBy(e => e.Begin).ToList();
        long prevEnd = 0;
        string? prevName = null;
        foreach (var e in byOffset)
        {
            if (e.End > dataLen)
                throw new SonicException($"{path}: tensor '{e.Name}' ends at byte {e.End} but the data section has only {dataLen} bytes (file truncated or header corrupt)");
            if (e.Begin < prevEnd)
                throw new SonicException($"{path}: tensor '{e.Name}' overlaps tensor '{prevName}' (offsets {e.Begin}..{e.End})");
            prevEnd = e.End;
            prevName = e.Name;
        }
        var file = dataLen > 0 ? File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess) : null;
        return new SafetensorsFile(path, entries, metadata, dataStart, file);
    }

    private static SafetensorsEntry ParseEntry(string path, JsonProperty prop)
    {
        var v = prop.Value;
        if (v.ValueKind != JsonValueKind.Object
            || !v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String
            || !v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array
            || !v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new SonicException($"{path}: header entry '{prop.Name}' lacks dtype, shape or data_offsets");
        string dtype = dt.GetString()!;
        int es = ElementSize(dtype);
        if (es < 0) throw new SonicException($"{path}: tensor '{prop.Name}' has unknown dtype '{dtype}'");
        long[] shape;
        try { shape = sh.EnumerateArray().Select(x => x.GetInt64()).ToArray(); }
        catch (Exception) { throw new SonicException($"{path}: tensor '{prop.Name}' has a malformed shape"); }
        if (shape.Any(d => d < 0)) throw new SonicException($"{path}: tensor '{prop.Name}' has a negative dimension");
        long begin, end;
        try { begin = off[0].GetInt64(); end = off[1].GetInt64(); }
        catch (Exception) { throw new SonicException($"{path}: tensor '{prop.Name}' has malformed data_offsets"); }
        var entry = new SafetensorsEntry(prop.Name, dtype, shape, begin, end);
        long expectedBytes;
        try { expectedBytes = checked(shape.Aggregate(1L, (a, b) => checked(a * b)) * es); }
        catch (OverflowException) { throw new SonicException($"{path}: tensor '{prop.Name}' has a shape too large to address [{string.Join(",", shape)}]"); }
        if (begin < 0 || end < begin || end - begin != expectedBytes)
            throw new SonicException($"{path}: tensor '{prop.Name}' data_offsets [{begin}, {end}] do not match its shape [{string.Join(",", shape)}] and dtype {dtype}");
        return entry;
    }

    public bool Contains(string name) => Entries.ContainsKey(name);

    public TensorInfo Info(string name) => Entries.TryGetValue(name, out var e)
        ? new TensorInfo(e.DType, e.Shape)
        : throw new SonicException($"{Path}: no tensor named '{name}'");

    /// <summary>Reads one tensor into CPU memory; floating-point tensors are converted to <paramref name="floatDtype"/> when given.</summary>
    public Tensor Read(string name, ScalarType? floatDtype = null)
    {
        var e = Entry(name);
        var stored = ToScalarType(e.DType, Path, name);
        var t = torch.empty(e.Shape, stored);
        CopyBytes(e, t);
        if (floatDtype is { } target && target != stored && torch.is_floating_point(t))
        {
            var c = t.to_type(target);
            t.Dispose();
            return c;
        }
        return t;
    }

    /// <summary>Copies one tensor into <paramref name="destination"/>: straight from the memory map when it is a contiguous CPU tensor of the stored dtype.</summary>
    public void CopyTo(string name, Tensor destination)
    {
        var e = Entry(name);
        if (destination.NumberOfElements != e.NumElements)
            throw new SonicException($"{Path}: tensor '{name}' has {e.NumElements} elements, its destination {destination.NumberOfElements}");
        var stored = ToScalarType(e.DType, Path, name);
        if (destination.dtype == stored && destination.device_type == DeviceType.CPU && destination.is_contiguous())
        {
            CopyBytes(e, destination);
            return;
        }
        lock (_scratch)
        {
            // one reusable buffer per stored dtype, so converting a whole model allocates (and page-faults) it once
            if (!_scratch.TryGetValue(stored, out var buffer) || buffer.NumberOfElements < e.NumElements)
            {
                buffer?.Dispose();
                _scratch[stored] = buffer = torch.empty(Math.Max(e.NumElements, 1), stored);
            }
            using var part = buffer.narrow(0, 0, e.NumElements);
            CopyBytes(e, part);
            using var v = part.view(destination.shape);
            destination.copy_(v);
        }
    }

    private readonly Dictionary<ScalarType, Tensor> _scratch = [];

    private SafetensorsEntry Entry(string name) =>
        Entries.TryGetValue(name, out var e) ? e : throw new SonicException($"{Path}: no tensor named '{name}'");

    private void CopyBytes(SafetensorsEntry e, Tensor destination)
    {
        if (e.End - e.Begin == 0) return;
        using var flat = destination.view(-1);
        long total = flat.NumberOfElements, chunk = (1L << 30) / flat.ElementSize;
        for (long start = 0; start < total; start += chunk)
        {
            using var part = flat.narrow(0, start, Math.Min(chunk, total - start));
            var dst = part.bytes;
            long offset = _dataStart + e.Begin + start * flat.ElementSize;
            while (dst.Length > 0)
            {
                int n = RandomAccess.Read(_file!, dst, offset);
                if (n == 0) throw new SonicException($"{Path}: tensor '{e.Name}' is cut short (the file shrank after it was opened)");
                dst = dst[n..];
                offset += n;
            }
        }
    }

    /// <summary>Reads every tensor (or those whose names pass the filter).</summary>
    public Dictionary<string, Tensor> ReadAll(ScalarType? floatDtype = null, Func<string, bool>? filter = null)
    {
        var result = new Dictionary<string, Tensor>();
        foreach (var n in Names)
        {
            if (filter != null && !filter(n)) continue;
            result[n] = Read(n, floatDtype);
        }
        return result;
    }

    public void Dispose()
    {
        _file?.Dispose();
        lock (_scratch)
        {
            foreach (var t in _scratch.Values) t.Dispose();
            _scratch.Clear();
        }
    }
}
