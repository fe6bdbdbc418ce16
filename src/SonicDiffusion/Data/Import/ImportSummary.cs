namespace SonicDiffusion.Data.Import;

/// <summary>What an import did: clips found, imported now or earlier, rows written, and every clip or line left out with its reason.</summary>
public sealed record ImportSummary
{
    public required string ManifestPath { get; init; }
    public required string ReportPath { get; init; }
    /// <summary>Clips found (after split files), before decoding.</summary>
    public required int Planned { get; init; }
    /// <summary>Clips decoded by this run.</summary>
    public required int Imported { get; init; }
    /// <summary>Clips finished by an earlier run and skipped.</summary>
    public required int Resumed { get; init; }
    public required int Rows { get; init; }
    public required int CaptionsFromFile { get; init; }
    public required IReadOnlyList<ImportIssue> Issues { get; init; }
    public required IReadOnlyDictionary<string, int> SplitCounts { get; init; }
    public required TimeSpan Elapsed { get; init; }

    public int Clips => Imported + Resumed;

    public IReadOnlyDictionary<ImportProblem, int> ProblemCounts =>
        Issues.GroupBy(i => i.Problem).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>One line: clips, rows per split, and the left-out counts by reason.</summary>
    public string Describe()
    {
        var splits = string.Join(", ", SplitCounts.Where(kv => kv.Value > 0).Select(kv => $"{kv.Key} {kv.Value}"));
        var left = Issues.Count == 0 ? "nothing left out"
            : $"{Issues.Count} left out ({string.Join(", ", ProblemCounts.Select(kv => $"{kv.Value} {kv.Key.Describe()}"))})";
        return $"{Clips} clips ({Imported} new, {Resumed} already done) → {Rows} rows ({splits}); {left}";
    }
}
