using System.Text;
using System.Text.Json;

namespace SonicDiffusion.Training;

/// <summary>
/// The run's metrics.jsonl: one JSON object per logged step, appended and flushed as training goes. On resume the file
/// is cut back to the checkpoint's step (lines logged after it, and a torn last line, are dropped) so the resumed run
/// writes exactly the lines an uninterrupted run would.
/// </summary>
public sealed class MetricsLog
{
    private readonly List<MetricsEntry> _entries = [];

    public string Path { get; }
    public IReadOnlyList<MetricsEntry> Entries => _entries;

    public MetricsLog(string path) => Path = path;

    /// <summary>Parses a metrics file, skipping lines that are not complete entries.</summary>
    public static List<MetricsEntry> Read(string path)
    {
        var list = new List<MetricsEntry>();
        if (!File.Exists(path)) return list;
        foreach (var line in File.ReadLines(path))
            if (TryParse(line, out var e)) list.Add(e!);
        return list;
    }

    /// <summary>Keeps only the entries with step ≤ <paramref name="step"/> and rewrites the file atomically.</summary>
    public void TruncateAfter(long step)
    {
        _entries.Clear();
        _entries.AddRange(Read(Path).Where(e => e.Step <= step));
        var sb = new StringBuilder();
        foreach (var e in _entries) sb.Append(Format(e)).Append('\n');
        TrainingCheckpoint.WriteDurable(Path, Encoding.UTF8.GetBytes(sb.ToString()));
    }

    public void Append(MetricsEntry e)
    {
        _entries.Add(e);
        using var fs = new FileStream(Path, FileMode.Append, FileAccess.Write, FileShare.Read);
        fs.Write(Encoding.UTF8.GetBytes(Format(e) + "\n"));
    }

    public static string Format(MetricsEntry e)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteNumber("step", e.Step);
            w.WriteNumber("epoch", e.Epoch);
            Num(w, "loss", e.Loss);
            w.WriteStartObject("parts");
            foreach (var (k, v) in e.Parts) Num(w, k, v);
            w.WriteEndObject();
            w.WriteStartObject("lr");
            foreach (var (k, v) in e.Lr) Num(w, k, v);
            w.WriteEndObject();
            Num(w, "grad_norm", e.GradNorm);
            Num(w, "it_per_s", e.ItPerSec);
            Num(w, "elapsed_s", e.ElapsedSeconds);
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static void Num(Utf8JsonWriter w, string key, double v)
    {
        if (double.IsFinite(v)) w.WriteNumber(key, v);
        else w.WriteString(key, v.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    private static double Dbl(JsonElement e) => e.ValueKind == JsonValueKind.Number
        ? e.GetDouble()
        : double.Parse(e.GetString()!, System.Globalization.CultureInfo.InvariantCulture);

    private static bool TryParse(string line, out MetricsEntry? entry)
    {
        entry = null;
        if (string.IsNullOrWhiteSpace(line)) return false;
        try
        {
            using var doc = JsonDocument.Parse(line);
            var r = doc.RootElement;
            static Dictionary<string, double> Map(JsonElement o) => o.EnumerateObject().ToDictionary(p => p.Name, p => Dbl(p.Value));
            entry = new MetricsEntry(r.GetProperty("step").GetInt64(), r.GetProperty("epoch").GetInt64(), Dbl(r.GetProperty("loss")),
                Map(r.GetProperty("parts")), Map(r.GetProperty("lr")), Dbl(r.GetProperty("grad_norm")),
                Dbl(r.GetProperty("it_per_s")), Dbl(r.GetProperty("elapsed_s")));
            return true;
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return false;
        }
    }
}
