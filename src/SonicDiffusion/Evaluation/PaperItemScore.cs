namespace SonicDiffusion.Evaluation;

/// <summary>
/// One generated image's scores under the paper protocol (a line of <c>scores.jsonl</c>; runs over parts of a set merge
/// by concatenating these and averaging). <see cref="Ais"/> null when no Wav2CLIP/ViT-B/32 was given.
/// </summary>
public sealed record PaperItemScore(int Index, string Image, string Audio, string Label, double? Ais, double Iis, string Predicted, bool AicCorrect);
