namespace SonicDiffusion.Studio;

/// <summary>A request the API refuses: the HTTP status and a one-line message returned as {"error": …}.</summary>
public sealed class StudioHttpException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}
