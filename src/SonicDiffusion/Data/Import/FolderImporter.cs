namespace SonicDiffusion.Data.Import;

/// <summary>
/// Any tree of videos, or of audio + image pairs (same name, same folder, e.g. rain/001.wav + rain/001.jpg); the label
/// is the parent folder (split folders train/val/test skipped). Clip ids are the relative paths ('/' as "__").
/// </summary>
public sealed class FolderImporter : IDatasetImporter
{
    public string Kind => "folder";

    public IReadOnlyList<ImportClip> Plan(ImportOptions options, ICollection<ImportIssue> issues)
    {
        var tree = new SourceTree(options.Source, options.Output);
        var images = tree.Files.Where(SourceTree.IsImage)
            .GroupBy(SourceTree.WithoutExtension, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        var clips = new List<ImportClip>();
        foreach (var rel in tree.Files)
        {
            bool video = SourceTree.IsVideo(rel), audio = SourceTree.IsAudio(rel);
            if (!video && !audio) continue;
            string? image = null;
            if (audio && !images.TryGetValue(SourceTree.WithoutExtension(rel), out image))
            {
                issues.Add(new ImportIssue(rel, ImportProblem.NoImage, "audio without an image of the same name beside it"));
                continue;
            }
            if (SourceTree.FolderLabel(rel) is not { } label)
            {
                issues.Add(new ImportIssue(rel, ImportProblem.BadAnnotation, "not in a class folder (expected SRC/<class>/<file>)"));
                continue;
            }
            string id = SourceTree.SafeId(SourceTree.WithoutExtension(rel));
            clips.Add(new ImportClip
            {
                Id = id, Source = tree.Full(rel), Image = image is null ? null : tree.Full(image), RelativeSource = rel,
                Label = label, Group = id, PathSplit = SourceTree.PathSplit(rel),
            });
        }
        return SourceTree.UniqueIds(clips, issues);
    }
}
