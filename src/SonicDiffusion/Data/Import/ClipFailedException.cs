namespace SonicDiffusion.Data.Import;

/// <summary>Raised while decoding one clip; the import lists it and goes on with the others.</summary>
public sealed class ClipFailedException(ImportProblem problem, string reason) : Exception(reason)
{
    public ImportProblem Problem { get; } = problem;
}
