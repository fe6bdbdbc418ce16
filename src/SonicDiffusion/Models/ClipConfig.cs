using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SonicDiffusion.Core;
using SonicDiffusion.Text;

namespace SonicDiffusion.Models;

/// <summary>
/// A CLIP model's shape (HF <c>CLIPConfig</c>): text tower, vision tower and the shared embedding width.
/// <see cref="FromTensorShapes"/> reads everything visible in HF-named shapes, as openai/CLIP's <c>build_model</c>
/// does for its own names (heads = width / 64); a <c>config.json</c> may then set heads, activation and LayerNorm eps.
/// </summary>
public sealed record ClipConfig(ClipTextConfig Text, ClipVisionConfig Vision, int ProjectionDim)
{
    private static readonly Regex TextLayer = new(@"^text_model\.encoder\.layers\.(\d+)\.", RegexOptions.CultureInvariant);
    private static readonly Regex VisionLayer = new(@"^vision_model\.encoder\.layers\.(\d+)\.", RegexOptions.CultureInvariant);

    public static ClipConfig FromTensorShapes(IReadOnlyDictionary<string, long[]> shapes, string source, JsonObject? configJson = null)
    {
        long[] Shape(string key) => shapes.TryGetValue(key, out var s) ? s
            : throw new SonicException($"{source}: tensor '{key}' not found; not a CLIP model with both towers");
        int Layers(Regex r) => shapes.Keys.Select(k => r.Match(k)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(-1).Max() + 1;
        var textJson = Section(configJson, "text_config");
        var visionJson = Section(configJson, "vision_config");

        var tok = Shape("text_model.embeddings.token_embedding.weight");
        int textWidth = (int)tok[1];
        var text = new ClipTextConfig
        {
            VocabSize = (int)tok[0],
            HiddenSize = textWidth,
            MaxPositionEmbeddings = (int)Shape("text_model.embeddings.position_embedding.weight")[0],
            NumHiddenLayers = Layers(TextLayer),
            IntermediateSize = (int)Shape("text_model.encoder.layers.0.mlp.fc1.weight")[0],
            NumAttentionHeads = Int(textJson, "num_attention_heads") ?? Heads(textWidth, source),
            HiddenAct = Str(textJson, "hidden_act") ?? "quick_gelu",
            LayerNormEps = Dbl(textJson, "layer_norm_eps") ?? 1e-5,
        };
        var patch = Shape("vision_model.embeddings.patch_embedding.weight");
        int visionWidth = (int)patch[0];
        int positions = (int)Shape("vision_model.embeddings.position_embedding.weight")[0];
        int grid = (int)Math.Round(Math.Sqrt(positions - 1));
        if (grid * grid + 1 != positions)
            throw new SonicException($"{source}: vision position embedding has {positions} rows, not 1 + a square grid");
        var vision = new ClipVisionConfig
        {
            HiddenSize = visionWidth,
            NumChannels = (int)patch[1],
            PatchSize = (int)patch[3],
            ImageSize = (int)patch[3] * grid,
            NumHiddenLayers = Layers(VisionLayer),
            IntermediateSize = (int)Shape("vision_model.encoder.layers.0.mlp.fc1.weight")[0],
            NumAttentionHeads = Int(visionJson, "num_attention_heads") ?? Heads(visionWidth, source),
            HiddenAct = Str(visionJson, "hidden_act") ?? "quick_gelu",
            LayerNormEps = Dbl(visionJson, "layer_norm_eps") ?? 1e-5,
        };
        int dim = (int)Shape("text_projection.weight")[0];
        var visual = Shape("visual_projection.weight");
        if (visual[0] != dim) throw new SonicException($"{source}: visual_projection gives {visual[0]} dims but text_projection {dim}");
        return new ClipConfig(text.Validated(source), vision.Validated(source), dim);
    }

    private static int Heads(int width, string source) => width % 64 == 0 ? width / 64
        : throw new SonicException($"{source}: width {width} is not a multiple of 64; the head count must come from config.json");

    private static JsonObject? Section(JsonObject? root, string name) =>
        root?[name] as JsonObject ?? root?[name + "_dict"] as JsonObject;

    private static int? Int(JsonObject? o, string key) => o?[key] is JsonValue v && v.TryGetValue<int>(out var i) ? i : null;
    private static double? Dbl(JsonObject? o, string key) => o?[key] is JsonValue v && v.TryGetValue<double>(out var d) ? d : null;
    private static string? Str(JsonObject? o, string key) => o?[key] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
}
