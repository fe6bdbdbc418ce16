namespace SonicDiffusion.Training;

/// <summary>
/// One line of metrics.jsonl. <paramref name="Step"/> counts completed updates (1-based); <paramref name="Lr"/> is the
/// learning rate each parameter group used for that update; <paramref name="GradNorm"/> is the global norm before
/// clipping; <paramref name="ItPerSec"/> is measured over the steps since the previous line.
/// </summary>
public sealed record MetricsEntry(
    long Step,
    long Epoch,
    double Loss,
    IReadOnlyDictionary<string, double> Parts,
    IReadOnlyDictionary<string, double> Lr,
    double GradNorm,
    double ItPerSec,
    double ElapsedSeconds);
