namespace SonicDiffusion.Training;

/// <summary>How <see cref="Trainer.Run"/> ended: the step reached, whether it was cancelled, and the last checkpoint folder.</summary>
public sealed record TrainingResult(long Step, long TotalSteps, bool Cancelled, long ResumedFromStep, double? LastLoss, string? LastCheckpoint);
