using System.Text;
using SonicDiffusion.Core;

namespace SonicDiffusion.Data.Import;

/// <summary>
/// A two-column CSV of (name, value): captions keyed by image, labels keyed by file. A name may be a path (only its
/// file name counts) and is found with or without its extension. A first row whose second cell is a word such as
/// "caption" or "label" is a header.
/// </summary>
public sealed class NameTable
{
    private readonly Dictionary<string, string> _byName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _byStem = new(StringComparer.Ordinal);

    public string FilePath { get; }
    public int Count => _byName.Count;

    private NameTable(string path) => FilePath = path;

    public static NameTable Read(string path, params string[] headerWords)
    {
        if (!File.Exists(path)) throw new SonicException($"{path}: file not found");
        var issues = new List<ManifestIssue>();
        List<(int Line, List<string> Cells)> records;
        using (var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true))
            records = DatasetManifest.ReadCsvRecords(reader, Path.GetFileName(path), issues);
        if (issues.Count > 0) throw new SonicException($"{path}:{issues[0].Line}: {issues[0].Message}");
        var table = new NameTable(path);
        for (int r = 0; r < records.Count; r++)
        {
            var (line, cells) = records[r];
            if (cells.All(c => c.Trim().Length == 0)) continue;
            if (cells.Count < 2) throw new SonicException($"{path}:{line}: expected 'name,value', found {cells.Count} field(s)");
            if (r == 0 && headerWords.Contains(cells[1].Trim(), StringComparer.OrdinalIgnoreCase)) continue;
            string name = Path.GetFileName(cells[0].Trim().Replace('\\', '/')), value = cells[1].Trim();
            if (name.Length == 0 || value.Length == 0) continue;
            table._byName[name] = value;
            table._byStem.TryAdd(Path.GetFileNameWithoutExtension(name), value);
        }
        return table;
    }

    /// <summary>The value of the first name found, exact names before extension-less ones.</summary>
    public string? Find(params string[] names)
    {
        foreach (var n in names)
            if (_byName.TryGetValue(n, out var v)) return v;
        foreach (var n in names)
            if (_byStem.TryGetValue(Path.GetFileNameWithoutExtension(n), out var v)) return v;
        return null;
    }
}
