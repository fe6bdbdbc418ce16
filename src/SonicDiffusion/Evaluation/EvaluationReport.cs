using System.Globalization;
using System.Text;
using System.Text.Json;
using SonicDiffusion.Core;

namespace SonicDiffusion.Evaluation;

/// <summary>Figures of one set of generated images (the main set or one sweep point). Absent figures are null.</summary>
public sealed record SetMetrics
{
    public int Count { get; init; }
    /// <summary>Audio-image class agreement: the classifier's class of the generated image equals the sound's class.</summary>
    public double Aic { get; init; }
    public IReadOnlyDictionary<string, double> AicPerClass { get; init; } = new Dictionary<string, double>();
    /// <summary>Mean cosine of classifier features of each generated image and its sound's paired real image.</summary>
    public double? Iis { get; init; }
    public int IisCount { get; init; }
    /// <summary>Fréchet distance of classifier features: generated vs real images of other held-out samples.</summary>
    public double? Fid { get; init; }
    /// <summary>The same distance between the paired real images and those other real images (two disjoint real halves).</summary>
    public double? FidRealBaseline { get; init; }
    public int FidCount { get; init; }
    /// <summary>Spearman ρ of the sound's intensity and the classifier's intensity (visual magnitude) of the generated image.</summary>
    public double? IntensitySpearman { get; init; }
    /// <summary>The same ρ on the paired real images (the classifier's ceiling).</summary>
    public double? RealIntensitySpearman { get; init; }
    /// <summary>Classifier accuracy on the paired real images.</summary>
    public double? RealAccuracy { get; init; }
    /// <summary>Mean Rec. 601 luma of the generated images (how a prompt such as "at night" moves the scene).</summary>
    public double MeanLuminance { get; init; }
    /// <summary>The same on the paired real images.</summary>
    public double? RealMeanLuminance { get; init; }
    /// <summary>Mean luma by the rows' <c>time_of_day</c> column (when the manifest has one), generated and paired real.</summary>
    public IReadOnlyList<LuminanceGroup> LuminanceByTimeOfDay { get; init; } = [];
    public double SecondsPerImage { get; init; }
}

/// <summary>Mean luma of the generated images (and their paired real ones) of the rows with one <c>time_of_day</c>.</summary>
public sealed record LuminanceGroup(string TimeOfDay, int Count, double Generated, double? Real);

public sealed record SweepPoint(double Beta, double Guidance, SetMetrics Metrics);

/// <summary>A figure the evaluation could not compute, and why.</summary>
public sealed record SkippedFigure(string Figure, string Reason);

/// <summary>One generated sample of the main set.</summary>
public sealed record SampleResult(string Audio, string Label, string Predicted, long Seed, double? Intensity, double PredictedMagnitude, double? Iis, double? RealMagnitude,
    double Luminance, double? RealLuminance, string? TimeOfDay);

/// <summary>What <c>sonic eval</c> measured (report.json; <see cref="ToMarkdown"/> gives report.md).</summary>
public sealed record EvaluationReport
{
    public required string Model { get; init; }
    public required string Classifier { get; init; }
    public required string Manifest { get; init; }
    public required string Split { get; init; }
    public required EvaluationOptions Options { get; init; }
    public required double Beta { get; init; }
    public required int Size { get; init; }
    public required bool HasImages { get; init; }
    public required bool HasIntensity { get; init; }
    public required SetMetrics Main { get; init; }
    public IReadOnlyList<SweepPoint> BetaSweep { get; init; } = [];
    public IReadOnlyList<SweepPoint> GuidanceSweep { get; init; } = [];
    public IReadOnlyList<SkippedFigure> Skipped { get; init; } = [];
    public IReadOnlyList<string> Notes { get; init; } = [];
    public IReadOnlyList<string> Files { get; init; } = [];
    public IReadOnlyList<SampleResult> Samples { get; init; } = [];
    public double ElapsedSeconds { get; init; }

    public string ToJson() => JsonSerializer.Serialize(this, ConfigJson.Options);

    private static string F(double? v, string format = "0.000") => v is { } x ? x.ToString(format, CultureInfo.InvariantCulture) : "—";

    public string ToMarkdown()
    {
        var c = CultureInfo.InvariantCulture;
        var md = new StringBuilder();
        md.AppendLine("# SonicDiffusion evaluation report").AppendLine();
        md.AppendLine($"- model: `{Model}`").AppendLine($"- classifier: `{Classifier}`").AppendLine($"- manifest: `{Manifest}` (split `{Split}`)");
        string guidance = Options.AudioGuidance is { } ag ? string.Create(c, $"three-branch guidance: text {Options.Guidance}, audio {ag}") : string.Create(c, $"guidance {Options.Guidance}");
        md.AppendLine(string.Create(c, $"- {Main.Count} held-out sounds, {Size}×{Size}, {Options.Steps} {Options.Scheduler} steps, {guidance}, β {Beta}, seeds {Options.Seed}…{Options.Seed + Main.Count - 1}"));
        md.AppendLine(Options.PromptFromCaption ? "- text prompt: each sound's own caption (manifest column)"
            : Options.Prompt.Length == 0 ? "- no text prompt (audio only)" : $"- text prompt with every sound: \"{Options.Prompt}\"");
        md.AppendLine(string.Create(c, $"- {ElapsedSeconds / 60:0.0} min in all, {Main.SecondsPerImage:0.00} s per image (generation + classification)")).AppendLine();

        md.AppendLine("## Main figures").AppendLine();
        md.AppendLine("| figure | value | reference |").AppendLine("| --- | ---: | --- |");
        md.AppendLine($"| AIC (class agreement) | {F(Main.Aic)} | chance {F(1.0 / Math.Max(1, Main.AicPerClass.Count))}; classifier on the paired real images {F(Main.RealAccuracy)} |");
        md.AppendLine($"| IIS (feature cosine to the paired real image) | {F(Main.Iis)} | n = {Main.IisCount} |");
        md.AppendLine($"| FID-proxy (classifier features, generated vs real) | {F(Main.Fid, "0.00")} | real vs real baseline {F(Main.FidRealBaseline, "0.00")} (n = {Main.FidCount} each) |");
        md.AppendLine($"| intensity → visual magnitude Spearman ρ | {F(Main.IntensitySpearman)} | on the paired real images {F(Main.RealIntensitySpearman)} |");
        md.AppendLine($"| mean luminance (Rec. 601) | {F(Main.MeanLuminance)} | paired real images {F(Main.RealMeanLuminance)} |");
        md.AppendLine();
        if (Main.LuminanceByTimeOfDay.Count > 0)
        {
            md.AppendLine("Mean luminance by the sound's row `time_of_day` (the prompt, if any, applies to all):").AppendLine();
            md.AppendLine("| time of day | n | generated | paired real |").AppendLine("| --- | ---: | ---: | ---: |");
            foreach (var g in Main.LuminanceByTimeOfDay) md.AppendLine($"| {g.TimeOfDay} | {g.Count} | {F(g.Generated)} | {F(g.Real)} |");
            md.AppendLine();
        }
        if (Skipped.Count > 0)
        {
            md.AppendLine("Skipped figures:").AppendLine();
            foreach (var s in Skipped) md.AppendLine($"- **{s.Figure}**: {s.Reason}");
            md.AppendLine();
        }
        md.AppendLine("AIC per class:").AppendLine();
        md.AppendLine("| class | AIC |").AppendLine("| --- | ---: |");
        foreach (var (label, v) in Main.AicPerClass) md.AppendLine($"| {label} | {F(v)} |");
        md.AppendLine();
        Sweep(md, $"β sweep (guidance {Options.Guidance.ToString(c)})", "β", BetaSweep, p => p.Beta);
        Sweep(md, $"Guidance sweep (β {Beta.ToString(c)})", "guidance", GuidanceSweep, p => p.Guidance);
        AppendNotesAndFigures(md, Notes, Files);
        return md.ToString();
    }

    /// <summary>The "Notes" list and the PNG figures of a report's Markdown (shared with <see cref="EditEvaluationReport"/>).</summary>
    internal static void AppendNotesAndFigures(StringBuilder md, IReadOnlyList<string> notes, IReadOnlyList<string> files)
    {
        if (notes.Count > 0)
        {
            md.AppendLine("## Notes").AppendLine();
            foreach (var n in notes) md.AppendLine($"- {n}");
            md.AppendLine();
        }
        if (files.Count > 0)
        {
            md.AppendLine("## Figures").AppendLine();
            foreach (var f in files.Where(f => f.EndsWith(".png", StringComparison.Ordinal))) md.AppendLine($"![{f}]({f})").AppendLine();
        }
    }

    private static void Sweep(StringBuilder md, string title, string column, IReadOnlyList<SweepPoint> points, Func<SweepPoint, double> key)
    {
        if (points.Count == 0) return;
        md.AppendLine($"## {title}").AppendLine();
        md.AppendLine($"| {column} | n | AIC | IIS | FID-proxy | real baseline | ρ |").AppendLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var p in points)
            md.AppendLine($"| {key(p).ToString(CultureInfo.InvariantCulture)} | {p.Metrics.Count} | {F(p.Metrics.Aic)} | {F(p.Metrics.Iis)} | {F(p.Metrics.Fid, "0.00")} | {F(p.Metrics.FidRealBaseline, "0.00")} | {F(p.Metrics.IntensitySpearman)} |");
        md.AppendLine();
    }
}
