namespace SonicDiffusion.Data.Import;

/// <summary>One dataset layout: finds the clips of a downloaded dataset (without decoding them).</summary>
public interface IDatasetImporter
{
    /// <summary>The KIND of <c>sonic data import KIND</c>.</summary>
    string Kind { get; }

    /// <summary>Audio seconds per clip when --seconds is not given.</summary>
    double DefaultSeconds => ImportOptions.DefaultSeconds;

    /// <summary>The clips under <see cref="ImportOptions.Source"/>, in a stable order; files and lines that cannot be used go to <paramref name="issues"/>.</summary>
    IReadOnlyList<ImportClip> Plan(ImportOptions options, ICollection<ImportIssue> issues);
}
