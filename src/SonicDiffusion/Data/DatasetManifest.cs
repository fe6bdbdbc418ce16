using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;

namespace SonicDiffusion.Data;

/// <summary>The on-disk layout of a manifest, chosen from the file extension (.jsonl/.ndjson or .csv).</summary>
public enum ManifestFormat { Jsonl, Csv }

/// <summary>
/// One audio–image pair. <see cref="Audio"/> and <see cref="Image"/> are stored as written in the manifest (normally
/// relative to it); resolve them with <see cref="DatasetManifest.Resolve"/>. Columns beyond the five required ones
/// go to <see cref="Extra"/> (JSON values; CSV cells arrive as strings).
/// </summary>
public sealed record ManifestRow
{
    public static readonly IReadOnlyList<string> RequiredColumns = ["audio", "image", "caption", "label", "split"];
    public static readonly IReadOnlyList<string> Splits = ["train", "val", "test"];

    public required string Audio { get; init; }
    public required string Image { get; init; }
    public required string Caption { get; init; }
    public required string Label { get; init; }
    public required string Split { get; init; }
    public IReadOnlyDictionary<string, JsonNode?> Extra { get; init; } = new Dictionary<string, JsonNode?>();

    /// <summary>1-based line of the row in the file it was read from; 0 when built in code.</summary>
    public int Line { get; init; }

    /// <summary>An extra column as a number (JSON number or numeric text), or null when absent or not numeric.</summary>
    public double? Number(string key)
    {
        if (!Extra.TryGetValue(key, out var node) || node is not JsonValue v) return null;
        string? text = v.GetValueKind() == JsonValueKind.Number ? v.ToJsonString() : v.TryGetValue(out string? s) ? s : null;
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : null;
    }

    /// <summary>An extra column as text (strings as they are, other JSON values as JSON), or null when absent.</summary>
    public string? Text(string key)
    {
        if (!Extra.TryGetValue(key, out var node) || node is null) return null;
        return node is JsonValue v && v.TryGetValue(out string? s) ? s : node.ToJsonString();
    }
}

/// <summary>A problem with one row (or the header) of a manifest; reading collects these instead of stopping.</summary>
public sealed record ManifestIssue(string File, int Line, string Message)
{
    public override string ToString() => $"{File}:{Line}: {Message}";
}

/// <summary>
/// A dataset manifest (JSONL or CSV): the good rows, the issues of the bad ones, and path resolution relative to the
/// manifest file.
/// </summary>
public sealed class DatasetManifest
{
    public string FilePath { get; }
    public string BaseDirectory { get; }
    public IReadOnlyList<ManifestRow> Rows { get; }
    public IReadOnlyList<ManifestIssue> Issues { get; }

    private DatasetManifest(string filePath, IReadOnlyList<ManifestRow> rows, IReadOnlyList<ManifestIssue> issues)
    {
        FilePath = Path.GetFullPath(filePath);
        BaseDirectory = Path.GetDirectoryName(FilePath)!;
        Rows = rows;
        Issues = issues;
    }

    /// <summary>A path from the manifest made absolute (relative paths are relative to the manifest's folder).</summary>
    public string Resolve(string path) => Path.GetFullPath(path.Replace('\\', '/'), BaseDirectory);

    public string AudioPath(ManifestRow row) => Resolve(row.Audio);
    public string ImagePath(ManifestRow row) => Resolve(row.Image);

    /// <summary>Throws a <see cref="SonicException"/> naming the first issue (and how many there are), if any.</summary>
    public void ThrowIfInvalid()
    {
        if (Issues.Count == 0) return;
        var more = Issues.Count > 1 ? $" (and {Issues.Count - 1} more problem(s))" : "";
        throw new SonicException($"{Issues[0]}{more}");
    }

    public static ManifestFormat FormatOf(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".jsonl" or ".ndjson" => ManifestFormat.Jsonl,
        ".csv" => ManifestFormat.Csv,
        var ext => throw new SonicException($"{path}: unknown manifest format '{ext}' (expected .jsonl or .csv)"),
    };

    /// <summary>
    /// Reads a manifest; bad rows become <see cref="Issues"/>. Throws only when the file cannot be read at all.
    /// <paramref name="required"/> (default <see cref="ManifestRow.RequiredColumns"/>) lists the columns a row must have;
    /// the other standard columns may then be absent or empty and read as "" (e.g. an audio-only evaluation manifest
    /// needs only audio and label).
    /// </summary>
    public static DatasetManifest Read(string path, IReadOnlyCollection<string>? required = null)
    {
        var format = FormatOf(path);
        if (!File.Exists(path)) throw new SonicException($"{path}: manifest not found");
        using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: true);
        return Parse(reader, path, format, required);
    }

    /// <summary>Parses manifest text; <paramref name="path"/> names the file in issues and anchors relative paths.</summary>
    public static DatasetManifest Parse(TextReader reader, string path, ManifestFormat format, IReadOnlyCollection<string>? required = null)
    {
        required ??= ManifestRow.RequiredColumns;
        var rows = new List<ManifestRow>();
        var issues = new List<ManifestIssue>();
        var name = Path.GetFileName(path);
        if (format == ManifestFormat.Jsonl) ParseJsonl(reader, name, rows, issues, required);
        else ParseCsv(reader, name, rows, issues, required);
        return new DatasetManifest(path, rows, issues.OrderBy(i => i.Line).ToList());
    }

    /// <summary>Writes rows atomically (temp file, then rename) in the format given by the extension.</summary>
    public static void Write(string path, IEnumerable<ManifestRow> rows)
    {
        var format = FormatOf(path);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = full + ".tmp";
        using (var writer = new StreamWriter(tmp, false, new UTF8Encoding(false)))
            Write(writer, rows, format);
        File.Move(tmp, full, true);
    }

    public static void Write(TextWriter writer, IEnumerable<ManifestRow> rows, ManifestFormat format)
    {
        writer.NewLine = "\n";
        if (format == ManifestFormat.Jsonl) WriteJsonl(writer, rows);
        else WriteCsv(writer, rows);
    }

    // ---- JSONL ----

    private static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static void WriteJsonl(TextWriter writer, IEnumerable<ManifestRow> rows)
    {
        var buffer = new MemoryStream();
        foreach (var row in rows)
        {
            buffer.SetLength(0);
            using (var json = new Utf8JsonWriter(buffer, JsonOptions))
            {
                json.WriteStartObject();
                json.WriteString("audio", row.Audio);
                json.WriteString("image", row.Image);
                json.WriteString("caption", row.Caption);
                json.WriteString("label", row.Label);
                json.WriteString("split", row.Split);
                foreach (var (key, value) in row.Extra)
                {
                    if (IsRequired(key)) continue;
                    json.WritePropertyName(key);
                    if (value is null) json.WriteNullValue();
                    else value.WriteTo(json);
                }
                json.WriteEndObject();
            }
            writer.WriteLine(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
        }
    }

    private static void ParseJsonl(TextReader reader, string file, List<ManifestRow> rows, List<ManifestIssue> issues, IReadOnlyCollection<string> required)
    {
        int lineNo = 0;
        for (string? line = reader.ReadLine(); line != null; line = reader.ReadLine())
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            JsonNode? node;
            try
            {
                node = JsonNode.Parse(line, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = false });
            }
            catch (JsonException e)
            {
                issues.Add(new(file, lineNo, $"invalid JSON: {FirstSentence(e.Message)}"));
                continue;
            }
            if (node is not JsonObject obj)
            {
                issues.Add(new(file, lineNo, "expected a JSON object {...}"));
                continue;
            }
            var fields = new Dictionary<string, string>();
            var extra = new Dictionary<string, JsonNode?>();
            var problems = new List<string>();
            try
            {
                foreach (var (key, value) in obj)
                {
                    if (!IsRequired(key)) { extra[key] = value?.DeepClone(); continue; }
                    if (value is JsonValue v && v.TryGetValue(out string? s)) fields[key] = s;
                    else problems.Add($"field '{key}' must be a string");
                }
            }
            catch (ArgumentException e)
            {
                issues.Add(new(file, lineNo, $"invalid JSON object: {FirstSentence(e.Message)}"));
                continue;
            }
            AddRow(file, lineNo, fields, extra, problems, rows, issues, required);
        }
    }

    // ---- CSV (RFC 4180: comma separated, double-quoted fields with "" escapes, header row) ----

    private static void WriteCsv(TextWriter writer, IEnumerable<ManifestRow> rows)
    {
        var list = rows as IReadOnlyList<ManifestRow> ?? rows.ToList();
        var extraKeys = new List<string>();
        var seen = new HashSet<string>();
        foreach (var row in list)
            foreach (var key in row.Extra.Keys)
                if (!IsRequired(key) && seen.Add(key)) extraKeys.Add(key);
        writer.WriteLine(string.Join(",", ManifestRow.RequiredColumns.Concat(extraKeys).Select(CsvField)));
        foreach (var row in list)
        {
            var cells = new List<string> { row.Audio, row.Image, row.Caption, row.Label, row.Split };
            foreach (var key in extraKeys) cells.Add(row.Extra.TryGetValue(key, out var v) ? CsvText(v) : "");
            writer.WriteLine(string.Join(",", cells.Select(CsvField)));
        }
    }

    private static string CsvText(JsonNode? node) => node switch
    {
        null => "",
        JsonValue v when v.TryGetValue(out string? s) => s,
        _ => node.ToJsonString(),
    };

    private static string CsvField(string s) =>
        s.Length > 0 && (s.IndexOfAny([',', '"', '\n', '\r']) >= 0 || char.IsWhiteSpace(s[0]) || char.IsWhiteSpace(s[^1]))
            ? "\"" + s.Replace("\"", "\"\"") + "\""
            : s;

    private static void ParseCsv(TextReader reader, string file, List<ManifestRow> rows, List<ManifestIssue> issues, IReadOnlyCollection<string> required)
    {
        var records = ReadCsvRecords(reader, file, issues);
        if (records.Count == 0)
        {
            issues.Add(new(file, 1, "empty CSV: expected a header row with columns " + string.Join(",", required)));
            return;
        }
        var (headerLine, header) = records[0];
        var names = header.Select(h => h.Trim()).ToList();
        var missing = required.Where(c => !names.Contains(c)).ToList();
        if (missing.Count > 0)
        {
            issues.Add(new(file, headerLine, $"header lacks column(s) {string.Join(", ", missing.Select(m => $"'{m}'"))}"));
            return;
        }
        var duplicate = names.GroupBy(n => n).FirstOrDefault(g => g.Count() > 1);
        if (duplicate != null)
        {
            issues.Add(new(file, headerLine, $"header repeats column '{duplicate.Key}'"));
            return;
        }
        foreach (var (line, cells) in records.Skip(1))
        {
            if (cells.Count == 1 && cells[0].Length == 0) continue;
            if (cells.Count != names.Count)
            {
                issues.Add(new(file, line, $"expected {names.Count} fields (as in the header), found {cells.Count}"));
                continue;
            }
            var fields = new Dictionary<string, string>();
            var extra = new Dictionary<string, JsonNode?>();
            for (int c = 0; c < names.Count; c++)
            {
                if (IsRequired(names[c])) fields[names[c]] = cells[c];
                else if (cells[c].Length > 0) extra[names[c]] = JsonValue.Create(cells[c]);
            }
            AddRow(file, line, fields, extra, [], rows, issues, required);
        }
    }

    /// <summary>RFC 4180 records with the 1-based line each starts on; an unterminated quote ends reading with an issue.</summary>
    internal static List<(int Line, List<string> Cells)> ReadCsvRecords(TextReader reader, string file, List<ManifestIssue> issues)
    {
        var records = new List<(int, List<string>)>();
        var text = reader.ReadToEnd();
        int line = 1, pos = 0;
        while (pos < text.Length)
        {
            int start = line;
            var cells = new List<string>();
            var cell = new StringBuilder();
            bool quoted = false, endOfRecord = false;
            while (pos < text.Length && !endOfRecord)
            {
                char ch = text[pos++];
                if (quoted)
                {
                    if (ch == '"')
                    {
                        if (pos < text.Length && text[pos] == '"') { cell.Append('"'); pos++; }
                        else quoted = false;
                    }
                    else
                    {
                        if (ch == '\n') line++;
                        cell.Append(ch);
                    }
                    continue;
                }
                switch (ch)
                {
                    case '"' when cell.Length == 0: quoted = true; break;
                    case ',': cells.Add(cell.ToString()); cell.Clear(); break;
                    case '\r' when pos < text.Length && text[pos] == '\n': break;
                    case '\n': line++; endOfRecord = true; break;
                    default: cell.Append(ch); break;
                }
            }
            if (quoted)
            {
                issues.Add(new(file, start, "unterminated quoted field"));
                break;
            }
            cells.Add(cell.ToString());
            records.Add((start, cells));
        }
        return records;
    }

    // ---- shared ----

    private static bool IsRequired(string key) => ManifestRow.RequiredColumns.Contains(key);

    private static void AddRow(string file, int line, Dictionary<string, string> fields, Dictionary<string, JsonNode?> extra,
        List<string> problems, List<ManifestRow> rows, List<ManifestIssue> issues, IReadOnlyCollection<string> required)
    {
        foreach (var col in ManifestRow.RequiredColumns)
        {
            if (problems.Any(p => p.Contains($"'{col}'"))) continue;
            if (!required.Contains(col))
            {
                fields[col] = fields.TryGetValue(col, out var given) && !string.IsNullOrWhiteSpace(given) ? given : "";
                continue;
            }
            if (!fields.TryGetValue(col, out var value)) problems.Add($"missing field '{col}'");
            else if (string.IsNullOrWhiteSpace(value)) problems.Add($"field '{col}' is empty");
        }
        if (fields.TryGetValue("split", out var split) && !string.IsNullOrWhiteSpace(split) && !ManifestRow.Splits.Contains(split))
            problems.Add($"split '{split}' is not one of {string.Join("|", ManifestRow.Splits)}");
        if (problems.Count > 0)
        {
            issues.Add(new(file, line, string.Join("; ", problems)));
            return;
        }
        rows.Add(new ManifestRow
        {
            Audio = fields["audio"],
            Image = fields["image"],
            Caption = fields["caption"],
            Label = fields["label"],
            Split = fields["split"],
            Extra = extra,
            Line = line,
        });
    }

    private static string FirstSentence(string message)
    {
        var m = message.Split('\n')[0].Trim();
        int cut = m.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? m[..cut] : m;
    }
}
