using System.Text.Json.Serialization;
using SonicDiffusion.Core;
using SonicDiffusion.IO;

namespace SonicDiffusion.Models;

/// <summary>
/// Hyper-parameters of the SonicDiffusion audio projector (official <c>Adapter</c> constructor arguments, snake_case in
/// JSON). Defaults are the released model: <c>Adapter(audio_token_count=77, transformer_layer_count=4)</c>.
/// </summary>
public sealed record AudioProjectorConfig
{
    /// <summary>Official: every block reads the conv-stack output, so only the last block affects the result.</summary>
    public const string ResidualOfficial = "official";
    /// <summary>Each block reads the previous block's output: x = between(attn(x)) + x.</summary>
    public const string ResidualChained = "chained";

    public int AudioDim { get; init; } = 1024;
    /// <summary>K, the number of audio tokens (conv channels); 77 in the released model, 1 for the single-token ablation.</summary>
    public int AudioTokenCount { get; init; } = 77;
    public int ContextDim { get; init; } = 768;
    public int DimHead { get; init; } = 40;
    public double Dropout { get; init; }
    public int H { get; init; } = 8;
    public int InitialChannelDim { get; init; } = 1;
    public int TransformerLayerCount { get; init; } = 4;
    /// <summary><see cref="ResidualOfficial"/> (default, reproduces the released weights) or <see cref="ResidualChained"/>.</summary>
    public string ResidualMode { get; init; } = ResidualOfficial;
    public double LayerNormEps { get; init; } = 1e-5;
    /// <summary>"erf" (official nn.GELU()) or "tanh".</summary>
    public string Gelu { get; init; } = "erf";

    [JsonIgnore] public int InnerDim => DimHead * H;
    /// <summary>Length after the ConvTranspose1d (k 17, stride 3, padding 7): 3 × audio_dim.</summary>
    [JsonIgnore] public int UpsampledLength => (AudioDim - 1) * 3 - 14 + 17;
    /// <summary>Length after the final Conv1d (k 17, stride 4, padding 7); must equal context_dim.</summary>
    [JsonIgnore] public int ProjectedLength => (UpsampledLength + 14 - 17) / 4 + 1;
    [JsonIgnore] public bool Chained => ResidualMode == ResidualChained;

    public AudioProjectorConfig Validate(string source)
    {
        if (AudioDim <= 0 || AudioTokenCount <= 0 || ContextDim <= 0 || DimHead <= 0 || H <= 0 || InitialChannelDim <= 0)
            throw new SonicException($"{source}: audio_dim, audio_token_count, context_dim, dim_head, h and initial_channel_dim must be positive");
        if (TransformerLayerCount < 1)
            throw new SonicException($"{source}: transformer_layer_count {TransformerLayerCount} must be at least 1");
        if (ResidualMode is not (ResidualOfficial or ResidualChained))
            throw new SonicException($"{source}: residual_mode '{ResidualMode}' is not '{ResidualOfficial}' or '{ResidualChained}'");
        if (Gelu is not ("erf" or "tanh"))
            throw new SonicException($"{source}: gelu '{Gelu}' is not 'erf' or 'tanh'");
        if (ProjectedLength != ContextDim)
            throw new SonicException($"{source}: audio_dim {AudioDim} gives {ProjectedLength} features after the conv stack, but context_dim is {ContextDim}");
        return this;
    }

    public static AudioProjectorConfig FromJson(string json, string source) => ConfigJson.Parse<AudioProjectorConfig>(json, source).Validate(source);

    /// <summary>
    /// Infers the sizes from <c>Adapter.state_dict()</c> tensor shapes. The head count is not visible in the shapes:
    /// <paramref name="heads"/> (official 8) splits the attention width. residual_mode stays official.
    /// </summary>
    public static AudioProjectorConfig FromTensorShapes(IReadOnlyDictionary<string, long[]> shapes, string source, int heads = 8)
    {
        long[] Need(string key) => shapes.TryGetValue(key, out var v)
            ? v
            : throw new SonicException($"{source}: tensor '{key}' is missing, cannot infer the audio projector config");
        var conv0 = Need("audio_emb_projection.0.weight");
        var ln = Need("audio_emb_projection.4.weight");
        var q = Need("cross_attention.0.to_q_adapter.weight");
        int layers = 0;
        while (shapes.ContainsKey($"cross_attention.{layers}.to_q_adapter.weight")) layers++;
        if (q[0] % heads != 0)
            throw new SonicException($"{source}: attention width {q[0]} is not divisible by {heads} heads");
        return new AudioProjectorConfig
        {
            AudioTokenCount = (int)conv0[0],
            InitialChannelDim = (int)conv0[1],
            AudioDim = (int)ln[1],
            ContextDim = (int)Need("to_out_adapter.0.weight")[0],
            H = heads,
            DimHead = (int)(q[0] / heads),
            TransformerLayerCount = layers,
        }.Validate(source);
    }

    public static AudioProjectorConfig FromTensorShapes(ITensorSource source, int heads = 8) =>
        FromTensorShapes(source.Names.ToDictionary(n => n, n => source.Info(n).Shape), source.Path, heads);
}
