using System.Globalization;
using System.Text;
using System.Text.Json;
using SonicDiffusion.Core;

namespace SonicDiffusion.Evaluation;

/// <summary>One edit of <c>sonic eval edit</c>: a held-out scene edited with a sound of another class at one injection fraction.</summary>
public sealed record EditResult(string Image, string SceneLabel, string Audio, string SoundLabel, double Fraction, string Predicted,
    double Ssim, double EdgeF1, bool Switched, bool SsimKept, bool EdgeKept);

/// <summary>The figures of one injection setting (feature injection = attention injection = <see cref="Fraction"/>).</summary>
public sealed record EditFractionRow
{
    public double Fraction { get; init; }
    public int Count { get; init; }
    /// <summary>Share of edits the classifier assigns to the sound's class.</summary>
    public double SwitchRate { get; init; }
    /// <summary>Share of edits the classifier still assigns to the scene's own class.</summary>
    public double SourceClassRate { get; init; }
    public double SsimMean { get; init; }
    public double SsimKeptRate { get; init; }
    public double EdgeF1Mean { get; init; }
    public double EdgeKeptRate { get; init; }
    public double SwitchAndSsimKeptRate { get; init; }
    public double SwitchAndEdgeKeptRate { get; init; }
    /// <summary>Share of edits that switch class and keep the structure by both measures (the issue's figure).</summary>
    public double SuccessRate { get; init; }
    /// <summary><see cref="SuccessRate"/> ≥ <see cref="EditEvaluationOptions.Target"/>.</summary>
    public bool MeetsTarget { get; init; }
    public double SecondsPerEdit { get; init; }
}

/// <summary>Structure figures of image pairs that are not edits: how the thresholds read on known cases.</summary>
public sealed record StructureReference(string Pairs, int Count, double SsimMean, double EdgeF1Mean, double SsimPassRate, double EdgePassRate, double BothPassRate);

/// <summary>What <c>sonic eval edit</c> measured (report.json; <see cref="ToMarkdown"/> gives report.md).</summary>
public sealed record EditEvaluationReport
{
    public required string Model { get; init; }
    public required string Classifier { get; init; }
    public required string Manifest { get; init; }
    public required string Split { get; init; }
    public required EditEvaluationOptions Options { get; init; }
    public required double Beta { get; init; }
    /// <summary>The PnP injection sites used: decoder resnets (features) and self-attentions (q/k).</summary>
    public IReadOnlyList<string> FeatureSites { get; init; } = [];
    public IReadOnlyList<string> AttentionSites { get; init; } = [];
    /// <summary>The model's native image side (edits are made at it and resized back to the source's size).</summary>
    public required int NativeSize { get; init; }
    public required int Scenes { get; init; }
    /// <summary>DDIM inversions run (one per scene, reused for every fraction and sound).</summary>
    public required int Inversions { get; init; }
    public double SecondsPerInversion { get; init; }
    /// <summary>Share of the source scenes the classifier assigns to their own class (the judge's accuracy on them).</summary>
    public required double SourceClassRate { get; init; }
    /// <summary>Share of (scene, sound) pairs whose unedited source the classifier already assigns to the sound's class (the switch rate of doing nothing).</summary>
    public required double SourceIsTargetRate { get; init; }
    /// <summary>Source vs its VAE encode–decode at the native size: the structure a perfect edit could keep at most.</summary>
    public required StructureReference VaeRoundTrip { get; init; }
    /// <summary>Source vs the next evaluated scene (another scene): how often unrelated images pass the thresholds.</summary>
    public StructureReference? Unrelated { get; init; }
    public required IReadOnlyList<EditFractionRow> Rows { get; init; }
    /// <summary>The text-only PnP baseline at each fraction (same scenes, targets and settings; β 0, prompt from <see cref="EditEvaluationOptions.TextBaseline"/>); null when not run.</summary>
    public IReadOnlyList<EditFractionRow>? TextBaselineRows { get; init; }
    public IReadOnlyList<EditResult> TextBaselineEdits { get; init; } = [];
    public IReadOnlyList<string> Notes { get; init; } = [];
    public IReadOnlyList<string> Files { get; init; } = [];
    public IReadOnlyList<EditResult> Edits { get; init; } = [];
    public double ElapsedSeconds { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, ConfigJson.Options);

    private static string F(double v, string format = "0.000") => v.ToString(format, CultureInfo.InvariantCulture);

    public string ToMarkdown()
    {
        var c = CultureInfo.InvariantCulture;
        var o = Options;
        var md = new StringBuilder();
        md.AppendLine("# SonicDiffusion edit evaluation report").AppendLine();
        md.AppendLine($"- model: `{Model}`").AppendLine($"- classifier: `{Classifier}`").AppendLine($"- manifest: `{Manifest}` (split `{Split}`)");
        md.AppendLine(string.Create(c, $"- {Scenes} held-out scenes × up to {o.Sounds} sounds of other classes (pairing seed {o.Seed}), {Rows.FirstOrDefault()?.Count ?? 0} edits per setting"));
        md.AppendLine(string.Create(c, $"- DDIM {o.Steps} steps (inversion and edit), guidance {o.Guidance}, β {Beta}, edits at {NativeSize} px (shorter side), compared at the source's size"));
        if (FeatureSites.Count > 0)
            md.AppendLine($"- PnP sites: features of {string.Join(", ", FeatureSites.Select(n => $"`{n}`"))}{(o.FeatureSites is null ? " (official rule)" : " (--feature-sites)")}; self-attention q/k of {AttentionSites.Count} decoder layers");
        md.AppendLine(string.Create(c, $"- structure kept: SSIM ≥ {o.SsimThreshold} and edge F1 ≥ {o.EdgeThreshold}; target: ≥ {EditEvaluationOptions.Target:0%} of edits switch class and keep the structure"));
        md.AppendLine(string.Create(c, $"- {Inversions} inversions ({SecondsPerInversion:0.00} s each), {ElapsedSeconds / 60:0.0} min in all")).AppendLine();

        md.AppendLine("## Edits by injection fraction (feature = attention = f)").AppendLine();
        AppendRows(md, Rows);
        if (TextBaselineRows is { } baseline)
        {
            md.AppendLine($"## Text-only PnP baseline (prompt \"{o.TextBaseline}\", no sound, β 0)").AppendLine();
            md.AppendLine("The same scenes, inversions, target classes and injection settings, edited with a text prompt naming the target class instead of the sound (the paper's comparison).").AppendLine();
            AppendRows(md, baseline);
            md.AppendLine("| f | audio: switch ∧ both kept | text: switch ∧ both kept | audio: switch | text: switch |").AppendLine("| ---: | ---: | ---: | ---: | ---: |");
            foreach (var (a, t) in Rows.Zip(baseline))
                md.AppendLine($"| {a.Fraction.ToString(c)} | {F(a.SuccessRate)} | {F(t.SuccessRate)} | {F(a.SwitchRate)} | {F(t.SwitchRate)} |");
            md.AppendLine();
        }

        AppendByClass(md);

        md.AppendLine("## References").AppendLine();
        md.AppendLine("| reference | value |").AppendLine("| --- | ---: |");
        md.AppendLine($"| classifier on the source scenes: own class | {F(SourceClassRate)} |");
        md.AppendLine($"| unedited source already of the sound's class (switch rate of doing nothing) | {F(SourceIsTargetRate)} |");
        md.AppendLine().AppendLine("| pairs | n | SSIM | edge F1 | SSIM kept | edge kept | both kept |").AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var s in new[] { VaeRoundTrip, Unrelated })
            if (s is not null)
                md.AppendLine($"| {s.Pairs} | {s.Count} | {F(s.SsimMean)} | {F(s.EdgeF1Mean)} | {F(s.SsimPassRate)} | {F(s.EdgePassRate)} | {F(s.BothPassRate)} |");
        md.AppendLine();
        EvaluationReport.AppendNotesAndFigures(md, Notes, Files);
        return md.ToString();
    }

    private static void AppendRows(StringBuilder md, IReadOnlyList<EditFractionRow> rows)
    {
        var c = CultureInfo.InvariantCulture;
        md.AppendLine("| f | n | class switch | still source class | SSIM | SSIM kept | edge F1 | edge kept | switch ∧ SSIM kept | switch ∧ edge kept | **switch ∧ both kept** | target |");
        md.AppendLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | :---: |");
        foreach (var r in rows)
            md.AppendLine($"| {r.Fraction.ToString(c)} | {r.Count} | {F(r.SwitchRate)} | {F(r.SourceClassRate)} | {F(r.SsimMean)} | {F(r.SsimKeptRate)} | {F(r.EdgeF1Mean)} | {F(r.EdgeKeptRate)} | {F(r.SwitchAndSsimKeptRate)} | {F(r.SwitchAndEdgeKeptRate)} | **{F(r.SuccessRate)}** | {(r.MeetsTarget ? "met" : "not met")} |");
        md.AppendLine();
    }

    /// <summary>Rates per class, as the edited scene's class and as the sound's class, all fractions pooled.</summary>
    private void AppendByClass(StringBuilder md)
    {
        if (Edits.Count == 0) return;
        md.AppendLine("## By class (all fractions pooled)").AppendLine();
        md.AppendLine("| class | edits of its scenes | switch | SSIM kept | switch ∧ SSIM kept | edits to it | switch | SSIM kept | switch ∧ SSIM kept |");
        md.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        string Cells(List<EditResult> e) => e.Count == 0 ? "0 | – | – | –"
            : $"{e.Count} | {F(e.Average(x => x.Switched ? 1.0 : 0.0))} | {F(e.Average(x => x.SsimKept ? 1.0 : 0.0))} | {F(e.Average(x => x.Switched && x.SsimKept ? 1.0 : 0.0))}";
        foreach (var label in Edits.Select(e => e.SceneLabel).Concat(Edits.Select(e => e.SoundLabel)).Distinct().Order(StringComparer.Ordinal))
            md.AppendLine($"| {label} | {Cells(Edits.Where(e => e.SceneLabel == label).ToList())} | {Cells(Edits.Where(e => e.SoundLabel == label).ToList())} |");
        md.AppendLine();
    }
}
