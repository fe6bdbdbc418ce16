namespace SonicDiffusion.Data.Import;

/// <summary>
/// The settings that decide an import's files, kept as <c>OUT/import.json</c>: resuming with other values would mix
/// clips made two ways, so it is refused. Captions, labels and splits are rebuilt on every run and may change.
/// </summary>
public sealed record ImportSettings
{
    public const string FileName = "import.json";

    public required string Kind { get; init; }
    public required string Source { get; init; }
    public required int Frames { get; init; }
    public required bool Frame0 { get; init; }
    public required double Seconds { get; init; }
    public required double MinSeconds { get; init; }
    public string LabelBy { get; init; } = "material";
}
