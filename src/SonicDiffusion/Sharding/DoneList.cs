using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;

namespace SonicDiffusion.Sharding;

/// <summary>
/// A shard's record of finished items: one JSON object per line with at least a "key", appended and flushed to disk
/// after each item, so a killed shard loses at most the item it was working on. A torn last line (the process died while
/// writing it) is cut off when the list is opened again. Only one process writes a given list (one per shard).
/// </summary>
public sealed class DoneList : IDisposable
{
    private readonly FileStream _stream;
    private readonly Dictionary<string, JsonObject> _entries = new(StringComparer.Ordinal);

    public string FilePath { get; }
    public IReadOnlyDictionary<string, JsonObject> Entries => _entries;

    private DoneList(string path, FileStream stream)
    {
        FilePath = path;
        _stream = stream;
    }

    /// <summary>Opens (creating) the list at <paramref name="path"/>, reading what earlier runs finished.</summary>
    public static DoneList Open(string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var stream = new FileStream(full, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read);
        var list = new DoneList(full, stream);
        try
        {
            long good = 0;
            foreach (var (entry, end) in ReadEntries(stream, full))
            {
                list._entries[entry["key"]!.GetValue<string>()] = entry;
                good = end;
            }
            stream.SetLength(good);
            stream.Seek(good, SeekOrigin.Begin);
            return list;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>The entries of a list another process may own (read only; a torn last line is ignored).</summary>
    public static IReadOnlyList<JsonObject> Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return ReadEntries(stream, path).Select(e => e.Entry).ToList();
    }

    private static IEnumerable<(JsonObject Entry, long End)> ReadEntries(Stream stream, string path)
    {
        stream.Seek(0, SeekOrigin.Begin);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        int start = 0, line = 0;
        while (start < bytes.Length)
        {
            int nl = Array.IndexOf(bytes, (byte)'\n', start);
            if (nl < 0) yield break;                       // torn last line: the writer died before the newline
            line++;
            JsonObject? entry;
            try { entry = JsonNode.Parse(Encoding.UTF8.GetString(bytes, start, nl - start)) as JsonObject; }
            catch (JsonException) { entry = null; }
            if (entry?["key"] is not JsonValue) throw new SonicException($"{path}: line {line} is not a done-list entry (delete the file to redo this shard)");
            start = nl + 1;
            yield return (entry, start);
        }
    }

    public bool Contains(string key) => _entries.ContainsKey(key);

    /// <summary>Records <paramref name="entry"/> (which must have a "key") as finished, durably.</summary>
    public void Add(JsonObject entry)
    {
        string key = entry["key"]?.GetValue<string>() ?? throw new ArgumentException("a done-list entry needs a key", nameof(entry));
        var bytes = Encoding.UTF8.GetBytes(entry.ToJsonString() + "\n");
        _stream.Write(bytes);
        _stream.Flush(true);
        _entries[key] = entry;
    }

    public void Dispose() => _stream.Dispose();
}
