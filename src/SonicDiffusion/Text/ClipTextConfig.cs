using System.Text.RegularExpressions;
using SonicDiffusion.Core;

namespace SonicDiffusion.Text;

/// <summary>HF <c>CLIPTextConfig</c> (text_encoder/config.json). Defaults are SD v1's CLIP ViT-L/14 text tower.</summary>
public sealed record ClipTextConfig
{
    public int VocabSize { get; init; } = 49408;
    public int HiddenSize { get; init; } = 768;
    public int NumHiddenLayers { get; init; } = 12;
    public int NumAttentionHeads { get; init; } = 12;
    public int IntermediateSize { get; init; } = 3072;
    public int MaxPositionEmbeddings { get; init; } = 77;
    /// <summary><c>quick_gelu</c> (x·sigmoid(1.702x), SD v1) or <c>gelu</c> (erf).</summary>
    public string HiddenAct { get; init; } = "quick_gelu";
    public double LayerNormEps { get; init; } = 1e-5;

    public static ClipTextConfig SdV1 { get; } = new();

    public int HeadDim => HiddenSize / NumAttentionHeads;

    public static ClipTextConfig FromFile(string path) => ConfigJson.Read<ClipTextConfig>(path).Validated(path);

    public static ClipTextConfig FromJson(string json, string source) => ConfigJson.Parse<ClipTextConfig>(json, source).Validated(source);

    /// <summary>Throws a <see cref="SonicException"/> naming <paramref name="source"/> when a field is unusable.</summary>
    public ClipTextConfig Validated(string source)
    {
        void Positive(string key, int v) { if (v <= 0) throw new SonicException($"{source}: {key} = {v} must be positive"); }
        Positive("vocab_size", VocabSize);
        Positive("hidden_size", HiddenSize);
        Positive("num_hidden_layers", NumHiddenLayers);
        Positive("num_attention_heads", NumAttentionHeads);
        Positive("intermediate_size", IntermediateSize);
        Positive("max_position_embeddings", MaxPositionEmbeddings);
        if (HiddenSize % NumAttentionHeads != 0)
            throw new SonicException($"{source}: hidden_size {HiddenSize} is not divisible by num_attention_heads {NumAttentionHeads}");
        if (HiddenAct is not ("quick_gelu" or "gelu"))
            throw new SonicException($"{source}: hidden_act '{HiddenAct}' is not supported (quick_gelu or gelu)");
        if (!(LayerNormEps > 0)) throw new SonicException($"{source}: layer_norm_eps {LayerNormEps} must be positive");
        return this;
    }

    private static readonly Regex LayerKey = new(@"^text_model\.encoder\.layers\.(\d+)\.", RegexOptions.CultureInvariant);

    /// <summary>
    /// Infers the config from HF-named tensor shapes (<c>text_model.*</c>). Vocabulary, width, positions, depth and
    /// MLP width are read from the shapes. The head count is not visible in any shape: it is
    /// <paramref name="numAttentionHeads"/> when given, else hidden/64 (CLIP's head size). hidden_act and
    /// layer_norm_eps are not visible either and keep the SD v1 values (quick_gelu, 1e-5).
    /// </summary>
    public static ClipTextConfig FromTensorShapes(IReadOnlyDictionary<string, long[]> shapes, string source, int? numAttentionHeads = null)
    {
        long[] Shape(string key) => shapes.TryGetValue(key, out var s) ? s
            : throw new SonicException($"{source}: tensor '{key}' not found; cannot infer the CLIP text config");
        var tok = Shape("text_model.embeddings.token_embedding.weight");
        var pos = Shape("text_model.embeddings.position_embedding.weight");
        var fc1 = Shape("text_model.encoder.layers.0.mlp.fc1.weight");
        int layers = shapes.Keys.Select(k => LayerKey.Match(k)).Where(m => m.Success)
            .Select(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).DefaultIfEmpty(-1).Max() + 1;
        int hidden = (int)tok[1];
        int heads = numAttentionHeads ?? (hidden % 64 == 0 ? hidden / 64
            : throw new SonicException($"{source}: hidden size {hidden} is not a multiple of 64; give num_attention_heads (not inferable from shapes)"));
        return new ClipTextConfig
        {
            VocabSize = (int)tok[0],
            HiddenSize = hidden,
            MaxPositionEmbeddings = (int)pos[0],
            NumHiddenLayers = layers,
            IntermediateSize = (int)fc1[0],
            NumAttentionHeads = heads,
        }.Validated(source);
    }
}
