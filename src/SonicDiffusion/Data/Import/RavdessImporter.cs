using System.Globalization;
using System.Text.Json.Nodes;

namespace SonicDiffusion.Data.Import;

/// <summary>
/// RAVDESS: <c>Actor_NN/MM-VV-EE-II-SS-RR-AA.mp4</c>, attributes decoded from the seven-part file-name code
/// (modality, vocal channel, emotion, intensity, statement, repetition, actor). The label is the emotion. Full-AV
/// files (modality 01) are imported; video-only (02) and audio-only (03) files are listed as skipped.
/// </summary>
public sealed class RavdessImporter : IDatasetImporter
{
    public string Kind => "ravdess";

    public static readonly IReadOnlyList<string> Emotions = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"];
    private static readonly string[] Statements = ["kids are talking by the door", "dogs are sitting by the door"];

    public IReadOnlyList<ImportClip> Plan(ImportOptions options, ICollection<ImportIssue> issues)
    {
        var tree = new SourceTree(options.Source, options.Output);
        var clips = new List<ImportClip>();
        foreach (var rel in tree.Files)
        {
            var parts = rel.Split('/');
            if (parts.Length < 2 || !parts[^2].StartsWith("Actor_", StringComparison.OrdinalIgnoreCase)) continue;
            if (!SourceTree.IsVideo(rel) && !SourceTree.IsAudio(rel)) continue;
            string stem = Path.GetFileNameWithoutExtension(rel);
            if (Decode(stem, parts[^2], out var fields) is { } error)
            {
                issues.Add(new ImportIssue(rel, ImportProblem.BadAnnotation, error));
                continue;
            }
            if (fields["modality"]!.GetValue<string>() != "full-av")
            {
                issues.Add(new ImportIssue(rel, ImportProblem.Skipped, $"{fields["modality"]!.GetValue<string>()} file (modality {stem[..2]}): only full audio-video files (01) give sound and picture"));
                continue;
            }
            clips.Add(new ImportClip
            {
                Id = stem, Source = tree.Full(rel), RelativeSource = rel, Label = fields["emotion"]!.GetValue<string>(), Group = stem,
                PathSplit = SourceTree.PathSplit(rel), Extra = fields,
            });
        }
        return SourceTree.UniqueIds(clips, issues);
    }

    /// <summary>The attributes of a RAVDESS file-name code; returns an error message when the code cannot be read.</summary>
    public static string? Decode(string stem, string actorFolder, out Dictionary<string, JsonNode?> fields)
    {
        fields = [];
        var parts = stem.Split('-');
        var codes = new int[parts.Length];
        if (parts.Length != 7 || parts.Where((p, i) => p.Length != 2 || !int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out codes[i])).Any())
            return $"file name '{stem}' is not a RAVDESS code (seven two-digit fields, e.g. 01-01-03-01-01-01-12)";
        string? Bad(string what, int value) => $"file name '{stem}': {what} code {value:D2} is not valid";
        int modality = codes[0], channel = codes[1], emotion = codes[2], intensity = codes[3], statement = codes[4], repetition = codes[5], actor = codes[6];
        if (modality is < 1 or > 3) return Bad("modality", modality);
        if (channel is < 1 or > 2) return Bad("vocal channel", channel);
        if (emotion is < 1 or > 8) return Bad("emotion", emotion);
        if (intensity is < 1 or > 2) return Bad("emotional intensity", intensity);
        if (statement is < 1 or > 2) return Bad("statement", statement);
        if (repetition is < 1 or > 2) return Bad("repetition", repetition);
        if (actor is < 1 or > 24) return Bad("actor", actor);
        if (int.TryParse(actorFolder.AsSpan(6), NumberStyles.None, CultureInfo.InvariantCulture, out var folderActor) && folderActor != actor)
            return $"file name '{stem}' names actor {actor:D2} but lies in {actorFolder}";
        fields["modality"] = modality switch { 1 => "full-av", 2 => "video-only", _ => "audio-only" };
        fields["vocal_channel"] = channel == 1 ? "speech" : "song";
        fields["emotion"] = Emotions[emotion - 1];
        fields["emotional_intensity"] = intensity == 1 ? "normal" : "strong";
        fields["statement"] = Statements[statement - 1];
        fields["repetition"] = repetition;
        fields["actor"] = actor;
        fields["sex"] = actor % 2 == 1 ? "male" : "female";
        return null;
    }
}
