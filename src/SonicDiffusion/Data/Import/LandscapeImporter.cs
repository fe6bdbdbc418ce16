namespace SonicDiffusion.Data.Import;

/// <summary>
/// Landscape (and Into the Wild): class folders of video clips, <c>SRC/&lt;class&gt;/&lt;id&gt;.mp4</c>, possibly under
/// train/val/test folders. The label is the class folder, or the entry of --labels (the official labels.csv,
/// keyed by <c>&lt;id&gt;.png</c>); the clip id is the file name without extension (the official ids such as 0516_5118).
/// </summary>
public sealed class LandscapeImporter : IDatasetImporter
{
    public string Kind => "landscape";

    public IReadOnlyList<ImportClip> Plan(ImportOptions options, ICollection<ImportIssue> issues)
    {
        var tree = new SourceTree(options.Source, options.Output);
        var labels = options.Labels is { } l ? NameTable.Read(l, "label", "class") : null;
        var clips = new List<ImportClip>();
        foreach (var rel in tree.Files.Where(SourceTree.IsVideo))
        {
            string id = SourceTree.SafeId(Path.GetFileNameWithoutExtension(rel));
            string? label = labels?.Find(id + ".png", id) ?? SourceTree.FolderLabel(rel);
            if (label is null)
            {
                issues.Add(new ImportIssue(rel, ImportProblem.BadAnnotation, labels is null
                    ? "not in a class folder (expected SRC/<class>/<clip>)"
                    : $"no label in {Path.GetFileName(labels.FilePath)} and not in a class folder"));
                continue;
            }
            clips.Add(new ImportClip
            {
                Id = id, Source = tree.Full(rel), RelativeSource = rel, Label = label, Group = id, PathSplit = SourceTree.PathSplit(rel),
            });
        }
        return SourceTree.UniqueIds(clips, issues);
    }
}
