using System.Text.Json.Nodes;

namespace SonicDiffusion.Data.Import;

/// <summary>
/// One planned clip: where its sound and picture come from, what it is called, its label and what its split is keyed
/// on. <see cref="Image"/> is set for audio + image pairs; otherwise <see cref="Source"/> is a video whose frames are
/// taken from the clip's window.
/// </summary>
public sealed record ImportClip
{
    /// <summary>File-name-safe and unique within the import: names the WAV, the PNGs and the caption lookups.</summary>
    public required string Id { get; init; }
    /// <summary>Absolute path of the video (or of the audio of a pair).</summary>
    public required string Source { get; init; }
    /// <summary>Absolute path of the paired image, for audio + image pairs.</summary>
    public string? Image { get; init; }
    /// <summary><see cref="Source"/> relative to --src, with '/' separators (reports and the manifest's source column).</summary>
    public required string RelativeSource { get; init; }
    public required string Label { get; init; }
    /// <summary>Clips with the same group always share a split (e.g. all hits of one Greatest Hits video).</summary>
    public required string Group { get; init; }
    /// <summary>The split named by the source's folders (train/val/test), used when no split file is given.</summary>
    public string? PathSplit { get; init; }
    /// <summary>Start of the clip's window in the source, seconds.</summary>
    public double Start { get; init; }
    /// <summary>Extra manifest columns (dataset attributes such as emotion or material).</summary>
    public IReadOnlyDictionary<string, JsonNode?> Extra { get; init; } = new Dictionary<string, JsonNode?>();
}
