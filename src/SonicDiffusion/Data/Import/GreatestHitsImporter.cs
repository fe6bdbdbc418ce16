using System.Globalization;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;

namespace SonicDiffusion.Data.Import;

/// <summary>
/// The Greatest Hits: every <c>&lt;video&gt;_denoised.mp4</c> with its <c>&lt;video&gt;_times.txt</c> (one hit per line:
/// time in seconds, material, action, reaction). One clip per annotated hit: the audio window is centred on the hit
/// (default 2 s), so the middle frame is the moment of the hit. The label is the material, the action, or both
/// (--label-by); hits of one video always share a split.
/// </summary>
public sealed class GreatestHitsImporter : IDatasetImporter
{
    public const string VideoSuffix = "_denoised.mp4", TimesSuffix = "_times.txt";
    public static readonly IReadOnlyList<string> LabelChoices = ["material", "action", "material-action"];

    public string Kind => "greatest-hits";

    public double DefaultSeconds => ImportOptions.DefaultHitSeconds;

    public IReadOnlyList<ImportClip> Plan(ImportOptions options, ICollection<ImportIssue> issues)
    {
        if (!LabelChoices.Contains(options.LabelBy))
            throw new SonicException($"--label-by {options.LabelBy}: expected {string.Join(", ", LabelChoices)}");
        double seconds = options.Seconds ?? DefaultSeconds;
        var tree = new SourceTree(options.Source, options.Output);
        var files = tree.Files.ToHashSet(StringComparer.Ordinal);
        var clips = new List<ImportClip>();
        foreach (var rel in tree.Files.Where(f => f.EndsWith(VideoSuffix, StringComparison.Ordinal)))
        {
            string prefix = rel[..^VideoSuffix.Length], video = Path.GetFileName(prefix), times = prefix + TimesSuffix;
            if (!files.Contains(times))
            {
                issues.Add(new ImportIssue(rel, ImportProblem.BadAnnotation, $"no annotation file {Path.GetFileName(times)} beside it"));
                continue;
            }
            string[] lines;
            try { lines = File.ReadAllLines(tree.Full(times)); }
            catch (IOException e) { issues.Add(new ImportIssue(times, ImportProblem.Unreadable, e.Message)); continue; }
            for (int i = 0; i < lines.Length; i++)
            {
                var fields = lines[i].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
                if (fields.Length == 0) continue;
                string where = $"{times}:{i + 1}";
                if (fields.Length < 3 || fields.Length > 4
                    || !double.TryParse(fields[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var time) || !double.IsFinite(time) || time < 0)
                {
                    issues.Add(new ImportIssue(where, ImportProblem.BadAnnotation, $"expected 'time material action [reaction]' with a time in seconds, found '{lines[i].Trim()}'"));
                    continue;
                }
                string material = fields[1], action = fields[2], reaction = fields.Length > 3 ? fields[3] : "None";
                bool noMaterial = IsNone(material), noAction = IsNone(action);
                string? label = options.LabelBy switch
                {
                    "material" => noMaterial ? null : material,
                    "action" => noAction ? null : action,
                    _ => noMaterial || noAction ? null : $"{material} {action}",
                };
                if (label is null)
                {
                    issues.Add(new ImportIssue(where, ImportProblem.Skipped, $"no {options.LabelBy.Replace('-', ' ')} annotated for the hit at {fields[0]} s"));
                    continue;
                }
                clips.Add(new ImportClip
                {
                    Id = SourceTree.SafeId($"{video}-hit{i + 1:D4}"),
                    Source = tree.Full(rel),
                    RelativeSource = rel,
                    Label = label,
                    Group = video,
                    PathSplit = SourceTree.PathSplit(rel),
                    Start = Math.Max(0, time - seconds / 2),
                    Extra = new Dictionary<string, JsonNode?>
                    {
                        ["video"] = video,
                        ["hit_time_s"] = time,
                        ["material"] = material,
                        ["action"] = action,
                        ["reaction"] = reaction,
                    },
                });
            }
        }
        return SourceTree.UniqueIds(clips, issues);
    }

    private static bool IsNone(string s) => s.Equals("None", StringComparison.OrdinalIgnoreCase) || s == "-";
}
