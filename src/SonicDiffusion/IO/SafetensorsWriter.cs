using System.Buffers.Binary;
using System.Text.Encodings.Web;
using System.Text.Json;
using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.IO;

/// <summary>
/// Writes safetensors files: 8-byte little-endian header length, a JSON header padded with spaces to a multiple of
/// 8 bytes (so every tensor starts 8-byte aligned: data is ordered by element size, then by name), then the raw
/// row-major little-endian data. Tensors are produced and written one at a time, so the file is never built in
/// memory. The file appears atomically: it is written to a temporary file in the same folder and renamed over
/// <c>path</c>; on any failure the temporary file is removed and an existing <c>path</c> is left untouched.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>One tensor to write: stored dtype (safetensors spelling) and shape, and the function that produces its values when its turn comes.</summary>
    public sealed record Entry(string Name, string DType, long[] Shape, Func<Tensor> Produce, bool DisposeAfterWrite);

    /// <summary>Writes the given tensors (any dtype, device and layout; non-contiguous tensors are written in logical order). The caller keeps ownership.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var entries = tensors.Select(kv => new Entry(kv.Key, SafetensorsFile.FromScalarType(kv.Value.dtype), kv.Value.shape, () => kv.Value, false));
        Write(path, entries, metadata);
    }

    /// <summary>
    /// Copies the tensors of <paramref name="source"/> into a safetensors file, reading one at a time.
    /// <paramref name="rename"/> maps a source name to the written name, or to null to leave the tensor out;
    /// <paramref name="floatDtype"/> converts floating-point tensors (e.g. to Float16).
    /// </summary>
    public static void Write(string path, ITensorSource source, IReadOnlyDictionary<string, string>? metadata = null,
        Func<string, string?>? rename = null, ScalarType? floatDtype = null)
    {
        var entries = new List<Entry>();
        foreach (var name in source.Names)
        {
            string? target = rename == null ? name : rename(name);
            if (target == null) continue;
            var info = source.Info(name);
            string dtype = floatDtype is { } f && info.IsFloat ? SafetensorsFile.FromScalarType(f) : info.DType;
            entries.Add(new Entry(target, dtype, info.Shape, () => source.Read(name, floatDtype), true));
        }
        Write(path, entries, metadata);
    }

    /// <summary>Writes the entries; each entry's tensor is produced, written and (when asked) disposed before the next one.</summary>
    public static void Write(string path, IEnumerable<Entry> entries, IReadOnlyDictionary<string, string>? metadata = null)
    {
        string full = System.IO.Path.GetFullPath(path);
        string dir = System.IO.Path.GetDirectoryName(full) ?? ".";
        if (!Directory.Exists(dir)) throw new SonicException($"{path}: cannot write, folder '{dir}' does not exist");
        if (Directory.Exists(full)) throw new SonicException($"{path}: cannot write, a folder has that name");

        var list = entries.ToList();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var e in list)
        {
            if (string.IsNullOrEmpty(e.Name) || e.Name == "__metadata__") throw new SonicException($"{path}: '{e.Name}' cannot be a tensor name in safetensors");
            if (!seen.Add(e.Name)) throw new SonicException($"{path}: tensor name '{e.Name}' appears twice");
            if (SafetensorsFile.ElementSize(e.DType) < 0) throw new SonicException($"{path}: tensor '{e.Name}' has dtype '{e.DType}', which safetensors cannot store here");
            if (e.Shape.Any(d => d < 0)) throw new SonicException($"{path}: tensor '{e.Name}' has a negative dimension");
        }
        var ordered = list.OrderByDescending(e => SafetensorsFile.ElementSize(e.DType)).ThenBy(e => e.Name, StringComparer.Ordinal).ToList();
        var offsets = new long[ordered.Count + 1];
        try
        {
            checked
            {
                for (int i = 0; i < ordered.Count; i++)
                    offsets[i + 1] = offsets[i] + ordered[i].Shape.Aggregate(1L, (a, b) => a * b) * SafetensorsFile.ElementSize(ordered[i].DType);
            }
        }
        catch (OverflowException) { throw new SonicException($"{path}: the tensors are too large to address"); }

        byte[] header = BuildHeader(ordered, offsets, metadata);
        string temp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                fs.Write(len);
                fs.Write(header);
                for (int i = 0; i < ordered.Count; i++)
                {
                    WriteTensor(path, fs, ordered[i]);
                    if (fs.Position != 8 + header.Length + offsets[i + 1])
                        throw new SonicException($"{path}: tensor '{ordered[i].Name}' wrote {fs.Position - 8 - header.Length - offsets[i]} bytes, expected {offsets[i + 1] - offsets[i]}");
                }
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new SonicException($"{path}: cannot write ({e.Message.Replace('\n', ' ')})");
        }
        finally
        {
            try { if (File.Exists(temp)) File.Delete(temp); }
            catch (IOException) { }
        }
    }

    private static byte[] BuildHeader(List<Entry> ordered, long[] offsets, IReadOnlyDictionary<string, string>? metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
            }
            for (int i = 0; i < ordered.Count; i++)
            {
                var e = ordered[i];
                w.WriteStartObject(e.Name);
                w.WriteString("dtype", e.DType);
                w.WriteStartArray("shape");
                foreach (var d in e.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offsets[i]);
                w.WriteNumberValue(offsets[i + 1]);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - ms.Length % 8) % 8);
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');
        return ms.ToArray();
    }

    private static void WriteTensor(string path, FileStream fs, Entry e)
    {
        using var noGrad = torch.no_grad();
        var t = e.Produce();
        var owned = new List<Tensor>();
        try
        {
            if (e.DisposeAfterWrite) owned.Add(t);
            string dtype = SafetensorsFile.FromScalarType(t.dtype);
            if (dtype != e.DType || !t.shape.SequenceEqual(e.Shape))
                throw new SonicException($"{path}: tensor '{e.Name}' is {dtype} [{string.Join(",", t.shape)}] but was declared {e.DType} [{string.Join(",", e.Shape)}]");
            if (t.NumberOfElements == 0) return;
            var c = t;
            if (c.device_type != DeviceType.CPU) { c = c.cpu(); owned.Add(c); }
            if (!c.is_contiguous()) { c = c.contiguous(); owned.Add(c); }
            var flat = c.reshape(-1);
            owned.Add(flat);
            long total = flat.NumberOfElements;
            long chunk = Math.Max(1, (1L << 30) / flat.ElementSize);
            for (long start = 0; start < total; start += chunk)
            {
                using var part = flat.narrow(0, start, Math.Min(chunk, total - start));
                fs.Write(part.bytes);
            }
        }
        finally
        {
            foreach (var o in owned) o.Dispose();
        }
    }
}
