namespace SonicDiffusion.Data.Import;

/// <summary>Why a clip (or an annotation line) was left out of an import.</summary>
public enum ImportProblem
{
    /// <summary>The file cannot be decoded (corrupt, truncated, not media).</summary>
    Unreadable,
    /// <summary>A video without an audio track.</summary>
    NoAudio,
    /// <summary>A video without a video track, or an image that does not decode.</summary>
    NoImage,
    /// <summary>Shorter than asked: less audio than --min-seconds, or fewer video frames than --frames.</summary>
    TooShort,
    /// <summary>The audio is digital silence.</summary>
    Silent,
    /// <summary>An annotation line, file-name code or label that cannot be read.</summary>
    BadAnnotation,
    /// <summary>Not listed in the given official split files.</summary>
    NotInSplit,
    /// <summary>Left out on purpose (e.g. RAVDESS video-only or audio-only files, a repeated clip id).</summary>
    Skipped,
}

public static class ImportProblems
{
    /// <summary>The words used for a problem in the report and the summary.</summary>
    public static string Describe(this ImportProblem p) => p switch
    {
        ImportProblem.Unreadable => "unreadable",
        ImportProblem.NoAudio => "no audio track",
        ImportProblem.NoImage => "no image",
        ImportProblem.TooShort => "too short",
        ImportProblem.Silent => "silent",
        ImportProblem.BadAnnotation => "bad annotation",
        ImportProblem.NotInSplit => "not in split files",
        _ => "skipped",
    };
}
