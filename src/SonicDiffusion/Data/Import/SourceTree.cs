using System.Text;
using SonicDiffusion.Core;

namespace SonicDiffusion.Data.Import;

/// <summary>The files of a downloaded dataset: relative paths, media kinds by extension, labels and splits named by folders.</summary>
public sealed class SourceTree
{
    private static readonly HashSet<string> VideoExtensions = [".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".flv", ".mpg", ".mpeg", ".ts", ".mts", ".wmv", ".3gp"];
    private static readonly HashSet<string> AudioExtensions = [".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aiff", ".aif"];
    private static readonly HashSet<string> ImageExtensions = [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"];

    public string Root { get; }
    /// <summary>Every file under the root (the import's output folder excluded), relative with '/' separators, in ordinal order.</summary>
    public IReadOnlyList<string> Files { get; }

    public SourceTree(string root, string? exclude = null)
    {
        Root = Path.GetFullPath(root);
        if (!Directory.Exists(Root)) throw new SonicException($"{root}: source folder not found");
        var skip = exclude is null ? null : Path.GetFullPath(exclude).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;
        Files = Directory.EnumerateFiles(Root, "*", new EnumerationOptions { RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.Hidden })
            .Where(f => skip is null || !f.StartsWith(skip, StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(Root, f).Replace('\\', '/'))
            .OrderBy(f => f, StringComparer.Ordinal)
            .ToList();
    }

    public string Full(string relative) => Path.Combine(Root, relative);

    public static bool IsVideo(string path) => VideoExtensions.Contains(Path.GetExtension(path).ToLowerInvariant());
    public static bool IsAudio(string path) => AudioExtensions.Contains(Path.GetExtension(path).ToLowerInvariant());
    public static bool IsImage(string path) => ImageExtensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>train, val or test for a folder name that names a split (training, validation, valid, testing too); else null.</summary>
    public static string? SplitName(string folder) => folder.ToLowerInvariant() switch
    {
        "train" or "training" => "train",
        "val" or "valid" or "validation" => "val",
        "test" or "testing" => "test",
        _ => null,
    };

    /// <summary>The split named by one of the file's folders, or null.</summary>
    public static string? PathSplit(string relative) =>
        Folders(relative).Select(SplitName).LastOrDefault(s => s != null);

    /// <summary>
    /// The class of a file: its nearest folder that does not name a split, with '_' read as a space; null for a file
    /// directly in the root.
    /// </summary>
    public static string? FolderLabel(string relative)
    {
        var folder = Folders(relative).LastOrDefault(f => SplitName(f) is null);
        return folder?.Replace('_', ' ').Trim() is { Length: > 0 } label ? label : null;
    }

    private static string[] Folders(string relative)
    {
        var parts = relative.Split('/');
        return parts[..^1];
    }

    /// <summary>A file-name-safe id: letters, digits, '.', '-' and '_' kept, '/' becomes "__", anything else '_'.</summary>
    public static string SafeId(string text)
    {
        var sb = new StringBuilder(text.Length);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == '/') sb.Append("__");
            else sb.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_');
        }
        return sb.ToString();
    }

    /// <summary>The relative path without its extension.</summary>
    public static string WithoutExtension(string relative)
    {
        int slash = relative.LastIndexOf('/'), dot = relative.LastIndexOf('.');
        return dot > slash + 1 ? relative[..dot] : relative;
    }

    /// <summary>Drops clips whose id repeats an earlier one, listing each as skipped.</summary>
    public static List<ImportClip> UniqueIds(IEnumerable<ImportClip> clips, ICollection<ImportIssue> issues)
    {
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        var kept = new List<ImportClip>();
        foreach (var c in clips)
        {
            if (seen.TryGetValue(c.Id, out var first))
                issues.Add(new ImportIssue(c.RelativeSource, ImportProblem.Skipped, $"clip id '{c.Id}' already taken by {first}"));
            else
            {
                seen[c.Id] = c.RelativeSource;
                kept.Add(c);
            }
        }
        return kept;
    }
}
