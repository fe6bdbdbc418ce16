using System.Text.Json.Serialization;
using SonicDiffusion.Core;
using SonicDiffusion.IO;

namespace SonicDiffusion.Models;

/// <summary>
/// diffusers <c>unet/config.json</c> of a <c>UNet2DConditionModel</c> (SD v1 family). Defaults are SD v1.4/v1.5.
/// <see cref="AttentionHeadDim"/> keeps diffusers' misnomer: unless <see cref="NumAttentionHeads"/> is set it is the
/// NUMBER of heads (8 in SD v1), and the head size is channels / heads. Both fields may be one integer or a per-level list.
/// </summary>
public sealed record UNet2DConditionConfig
{
    public int? SampleSize { get; init; } = 64;
    public int InChannels { get; init; } = 4;
    public int OutChannels { get; init; } = 4;
    public int[] BlockOutChannels { get; init; } = [320, 640, 1280, 1280];
    public int LayersPerBlock { get; init; } = 2;
    public string[] DownBlockTypes { get; init; } = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"];
    public string MidBlockType { get; init; } = "UNetMidBlock2DCrossAttn";
    public string[] UpBlockTypes { get; init; } = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"];

    [JsonConverter(typeof(IntOrArrayJsonConverter))]
    public int[] AttentionHeadDim { get; init; } = [8];

    [JsonConverter(typeof(IntOrArrayJsonConverter))]
    public int[]? NumAttentionHeads { get; init; }

    public int CrossAttentionDim { get; init; } = 768;

    [JsonConverter(typeof(IntOrArrayJsonConverter))]
    public int[] TransformerLayersPerBlock { get; init; } = [1];

    public bool UseLinearProjection { get; init; }
    public bool UpcastAttention { get; init; }
    public bool OnlyCrossAttention { get; init; }
    public int NormNumGroups { get; init; } = 32;
    public double NormEps { get; init; } = 1e-5;
    public string ActFn { get; init; } = "silu";
    public bool FlipSinToCos { get; init; } = true;
    public double FreqShift { get; init; }
    public int DownsamplePadding { get; init; } = 1;
    public double MidBlockScaleFactor { get; init; } = 1.0;
    public bool CenterInputSample { get; init; }
    public string ResnetTimeScaleShift { get; init; } = "default";
    public string? ClassEmbedType { get; init; }
    public string? AdditionEmbedType { get; init; }
    public string TimeEmbeddingType { get; init; } = "positional";
    /// <summary>Width of the time embedding; null = 4 × block_out_channels[0] (diffusers' default).</summary>
    public int? TimeEmbeddingDim { get; init; }

    /// <summary>GroupNorm eps inside every Transformer2DModel (fixed at 1e-6 in diffusers).</summary>
    public const double TransformerNormEps = 1e-6;
    /// <summary>LayerNorm eps inside every BasicTransformerBlock.</summary>
    public const double LayerNormEps = 1e-5;

    public int NumLevels => BlockOutChannels.Length;
    public int TimeEmbedDim => TimeEmbeddingDim ?? BlockOutChannels[0] * 4;

    /// <summary>Attention heads at down level <paramref name="level"/> (the mid block uses the last level's).</summary>
    public int HeadsAt(int level) => PerLevel(NumAttentionHeads ?? AttentionHeadDim, level, "attention heads");

    public int TransformerLayersAt(int level) => PerLevel(TransformerLayersPerBlock, level, "transformer_layers_per_block");

    public bool DownHasAttention(int level) => DownBlockTypes[level] == "CrossAttnDownBlock2D";
    public bool UpHasAttention(int upIndex) => UpBlockTypes[upIndex] == "CrossAttnUpBlock2D";

    private int PerLevel(int[] values, int level, string what)
    {
        if (values.Length == 1) return values[0];
        if (values.Length != NumLevels) throw new SonicException($"UNet config: {what} has {values.Length} entries but block_out_channels has {NumLevels}");
        return values[level];
    }

    /// <summary>Throws a <see cref="SonicException"/> naming the first field this implementation cannot build.</summary>
    public void Validate(string source = "UNet config")
    {
        int n = NumLevels;
        if (n == 0) throw new SonicException($"{source}: block_out_channels is empty");
        if (DownBlockTypes.Length != n) throw new SonicException($"{source}: down_block_types has {DownBlockTypes.Length} entries but block_out_channels has {n}");
        if (UpBlockTypes.Length != n) throw new SonicException($"{source}: up_block_types has {UpBlockTypes.Length} entries but block_out_channels has {n}");
        foreach (var t in DownBlockTypes)
            if (t is not ("CrossAttnDownBlock2D" or "DownBlock2D")) throw new SonicException($"{source}: down_block_types entry '{t}' is not supported (CrossAttnDownBlock2D, DownBlock2D)");
        foreach (var t in UpBlockTypes)
            if (t is not ("CrossAttnUpBlock2D" or "UpBlock2D")) throw new SonicException($"{source}: up_block_types entry '{t}' is not supported (CrossAttnUpBlock2D, UpBlock2D)");
        if (MidBlockType != "UNetMidBlock2DCrossAttn") throw new SonicException($"{source}: mid_block_type '{MidBlockType}' is not supported (UNetMidBlock2DCrossAttn)");
        if (LayersPerBlock < 1) throw new SonicException($"{source}: layers_per_block {LayersPerBlock} must be >= 1");
        if (ActFn != "silu") throw new SonicException($"{source}: act_fn '{ActFn}' is not supported (silu)");
        if (ResnetTimeScaleShift != "default") throw new SonicException($"{source}: resnet_time_scale_shift '{ResnetTimeScaleShift}' is not supported (default)");
        if (OnlyCrossAttention) throw new SonicException($"{source}: only_cross_attention true is not supported");
        if (ClassEmbedType != null) throw new SonicException($"{source}: class_embed_type '{ClassEmbedType}' is not supported");
        if (AdditionEmbedType != null) throw new SonicException($"{source}: addition_embed_type '{AdditionEmbedType}' is not supported");
        if (TimeEmbeddingType != "positional") throw new SonicException($"{source}: time_embedding_type '{TimeEmbeddingType}' is not supported (positional)");
        if (TimeEmbeddingDim is < 1) throw new SonicException($"{source}: time_embedding_dim {TimeEmbeddingDim} must be >= 1");
        for (int i = 0; i < n; i++)
        {
            int c = BlockOutChannels[i];
            if (c % NormNumGroups != 0) throw new SonicException($"{source}: block_out_channels[{i}] = {c} is not divisible by norm_num_groups {NormNumGroups}");
            int heads = HeadsAt(i);
            if (heads < 1 || c % heads != 0) throw new SonicException($"{source}: block_out_channels[{i}] = {c} is not divisible by {heads} attention heads");
            if (TransformerLayersAt(i) < 1) throw new SonicException($"{source}: transformer_layers_per_block must be >= 1");
        }
    }

    /// <summary>
    /// Infers the architecture from diffusers-named tensor shapes (e.g. a converted single-file checkpoint).
    /// Head counts, norm groups and sample size are not visible in shapes: heads default to <paramref name="defaultHeads"/>
    /// (SD v1: 8), groups to 32, sample size to 64; <c>Note</c> says so.
    /// </summary>
    public static (UNet2DConditionConfig Config, string Note) FromTensorShapes(IReadOnlyDictionary<string, TensorInfo> diffusersNamed, int defaultHeads = 8)
    {
        TensorInfo Need(string key) => diffusersNamed.TryGetValue(key, out var t) ? t : throw new SonicException($"UNet weights: tensor '{key}' is missing, cannot infer the architecture");
        bool HasPrefix(string prefix) => diffusersNamed.Keys.Any(k => k.StartsWith(prefix, StringComparison.Ordinal));

        var channels = new List<int>();
        while (diffusersNamed.ContainsKey($"down_blocks.{channels.Count}.resnets.0.conv1.weight"))
            channels.Add((int)Need($"down_blocks.{channels.Count}.resnets.0.conv1.weight").Shape[0]);
        if (channels.Count == 0) throw new SonicException("UNet weights: no 'down_blocks.0.resnets.0.conv1.weight', not a diffusers-named UNet");
        int layers = 0;
        while (diffusersNamed.ContainsKey($"down_blocks.0.resnets.{layers}.conv1.weight")) layers++;
        int n = channels.Count;

        var down = Enumerable.Range(0, n).Select(i => HasPrefix($"down_blocks.{i}.attentions.") ? "CrossAttnDownBlock2D" : "DownBlock2D").ToArray();
        var up = Enumerable.Range(0, n).Select(i => HasPrefix($"up_blocks.{i}.attentions.") ? "CrossAttnUpBlock2D" : "UpBlock2D").ToArray();
        if (!HasPrefix("mid_block.attentions.")) throw new SonicException("UNet weights: the mid block has no attention; only UNetMidBlock2DCrossAttn is supported");

        var procIn = Need("mid_block.attentions.0.proj_in.weight");
        int depth = 0;
        while (HasPrefix($"mid_block.attentions.0.transformer_blocks.{depth}.")) depth++;
        var toK = Need("mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight");
        int timeDim = (int)Need("time_embedding.linear_1.weight").Shape[0];

        var cfg = new UNet2DConditionConfig
        {
            InChannels = (int)Need("conv_in.weight").Shape[1],
            OutChannels = (int)Need("conv_out.weight").Shape[0],
            BlockOutChannels = channels.ToArray(),
            LayersPerBlock = layers,
            DownBlockTypes = down,
            UpBlockTypes = up,
            AttentionHeadDim = [defaultHeads],
            CrossAttentionDim = (int)toK.Shape[1],
            TransformerLayersPerBlock = [depth],
            UseLinearProjection = procIn.Shape.Length == 2,
            TimeEmbeddingDim = timeDim == channels[0] * 4 ? null : timeDim,
        };
        return (cfg, $"attention heads cannot be inferred from weight shapes: assumed {defaultHeads} per level (SD v1); norm_num_groups assumed {cfg.NormNumGroups}, sample_size {cfg.SampleSize}");
    }
}
