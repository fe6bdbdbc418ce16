namespace SonicDiffusion.Schedulers;

/// <summary>What the denoiser predicts (diffusers <c>prediction_type</c>).</summary>
public enum PredictionKind { Epsilon, VPrediction, Sample }
