namespace SonicDiffusion.Data.Import;

/// <summary>The settings of <c>sonic data import</c>; see docs/datasets.md.</summary>
public sealed record ImportOptions
{
    public required string Kind { get; init; }
    /// <summary>The dataset's folder as downloaded.</summary>
    public required string Source { get; init; }
    /// <summary>The folder that receives audio/, images/, manifest.jsonl and import-report.txt.</summary>
    public required string Output { get; init; }
    /// <summary>Frames per clip, at the centres of equal parts of the clip (1: the middle frame).</summary>
    public int Frames { get; init; } = 1;
    /// <summary>The official naming: frames from the clip's first frame on, written as <c>&lt;id&gt;_frame{i}.png</c>.</summary>
    public bool Frame0 { get; init; }
    /// <summary>Audio length per clip in seconds (less when the clip is shorter); null: the kind's default.</summary>
    public double? Seconds { get; init; }
    /// <summary>Clips with less audio than this are left out as too short.</summary>
    public double MinSeconds { get; init; } = 1.0;
    /// <summary>CSV of (image or clip name, caption), e.g. BLIP-2 captions.</summary>
    public string? Captions { get; init; }
    /// <summary>Caption of clips without one in <see cref="Captions"/>: {label} and any extra column in braces are filled in.</summary>
    public string CaptionTemplate { get; init; } = DefaultCaptionTemplate;
    /// <summary>Official split files: lines "name,split", or one name per line in a file whose name says train, val or test.</summary>
    public IReadOnlyList<string> SplitFiles { get; init; } = [];
    /// <summary>Class labels CSV (name,label) overriding the folder labels (Landscape's labels.csv).</summary>
    public string? Labels { get; init; }
    /// <summary>Greatest Hits: which annotation becomes the label (material, action or material-action).</summary>
    public string LabelBy { get; init; } = "material";
    public double ValFraction { get; init; } = 0.1;
    public double TestFraction { get; init; } = 0.1;
    public int Workers { get; init; } = Environment.ProcessorCount;

    public const string DefaultCaptionTemplate = "a photo of {label}";
    public const double DefaultSeconds = 10, DefaultHitSeconds = 2;
}
