namespace SonicDiffusion.Data.Import;

/// <summary>One thing left out of an import: the source (relative to --src, with a line number for annotations), what kind of problem, and why.</summary>
public sealed record ImportIssue(string Source, ImportProblem Problem, string Reason)
{
    public override string ToString() => $"{Source}: {Problem.Describe()}: {Reason}";
}
