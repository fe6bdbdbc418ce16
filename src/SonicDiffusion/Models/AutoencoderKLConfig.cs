using SonicDiffusion.Core;
using SonicDiffusion.IO;

namespace SonicDiffusion.Models;

/// <summary>
/// diffusers <c>vae/config.json</c> of an <c>AutoencoderKL</c>. Defaults are the SD v1 "kl-f8" VAE. Every VAE GroupNorm
/// uses eps 1e-6. <see cref="ScalingFactor"/> (0.18215 in SD v1) is NOT applied by <see cref="AutoencoderKL.Encode"/> /
/// <see cref="AutoencoderKL.Decode"/>; only by <see cref="AutoencoderKL.EncodeToLatents"/> / <see cref="AutoencoderKL.DecodeLatents"/>.
/// </summary>
public sealed record AutoencoderKLConfig
{
    public int InChannels { get; init; } = 3;
    public int OutChannels { get; init; } = 3;
    public int LatentChannels { get; init; } = 4;
    public int[] BlockOutChannels { get; init; } = [128, 256, 512, 512];
    public int LayersPerBlock { get; init; } = 2;
    public string[] DownBlockTypes { get; init; } = ["DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D", "DownEncoderBlock2D"];
    public string[] UpBlockTypes { get; init; } = ["UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D", "UpDecoderBlock2D"];
    public string ActFn { get; init; } = "silu";
    public int NormNumGroups { get; init; } = 32;
    public int? SampleSize { get; init; } = 512;
    public double ScalingFactor { get; init; } = 0.18215;
    public bool MidBlockAddAttention { get; init; } = true;

    public const double NormEps = 1e-6;
    public const double LogVarMin = -30.0;
    public const double LogVarMax = 20.0;

    public int NumLevels => BlockOutChannels.Length;

    public void Validate(string source = "VAE config")
    {
        int n = NumLevels;
        if (n == 0) throw new SonicException($"{source}: block_out_channels is empty");
        if (DownBlockTypes.Length != n) throw new SonicException($"{source}: down_block_types has {DownBlockTypes.Length} entries but block_out_channels has {n}");
        if (UpBlockTypes.Length != n) throw new SonicException($"{source}: up_block_types has {UpBlockTypes.Length} entries but block_out_channels has {n}");
        foreach (var t in DownBlockTypes)
            if (t != "DownEncoderBlock2D") throw new SonicException($"{source}: down_block_types entry '{t}' is not supported (DownEncoderBlock2D)");
        foreach (var t in UpBlockTypes)
            if (t != "UpDecoderBlock2D") throw new SonicException($"{source}: up_block_types entry '{t}' is not supported (UpDecoderBlock2D)");
        if (ActFn != "silu") throw new SonicException($"{source}: act_fn '{ActFn}' is not supported (silu)");
        if (!MidBlockAddAttention) throw new SonicException($"{source}: mid_block_add_attention false is not supported");
        if (LayersPerBlock < 1) throw new SonicException($"{source}: layers_per_block {LayersPerBlock} must be >= 1");
        if (ScalingFactor <= 0) throw new SonicException($"{source}: scaling_factor {ScalingFactor} must be positive");
        for (int i = 0; i < n; i++)
            if (BlockOutChannels[i] % NormNumGroups != 0)
                throw new SonicException($"{source}: block_out_channels[{i}] = {BlockOutChannels[i]} is not divisible by norm_num_groups {NormNumGroups}");
    }

    /// <summary>
    /// Infers the architecture from diffusers-named tensor shapes. Norm groups (32) and the scaling factor (0.18215) are
    /// not visible in shapes; <c>Note</c> says so.
    /// </summary>
    public static (AutoencoderKLConfig Config, string Note) FromTensorShapes(IReadOnlyDictionary<string, TensorInfo> diffusersNamed)
    {
        TensorInfo Need(string key) => diffusersNamed.TryGetValue(key, out var t) ? t : throw new SonicException($"VAE weights: tensor '{key}' is missing, cannot infer the architecture");
        var channels = new List<int>();
        while (diffusersNamed.ContainsKey($"encoder.down_blocks.{channels.Count}.resnets.0.conv1.weight"))
            channels.Add((int)Need($"encoder.down_blocks.{channels.Count}.resnets.0.conv1.weight").Shape[0]);
        if (channels.Count == 0) throw new SonicException("VAE weights: no 'encoder.down_blocks.0.resnets.0.conv1.weight', not a diffusers-named VAE");
        int layers = 0;
        while (diffusersNamed.ContainsKey($"encoder.down_blocks.0.resnets.{layers}.conv1.weight")) layers++;
        var cfg = new AutoencoderKLConfig
        {
            InChannels = (int)Need("encoder.conv_in.weight").Shape[1],
            OutChannels = (int)Need("decoder.conv_out.weight").Shape[0],
            LatentChannels = (int)Need("decoder.conv_in.weight").Shape[1],
            BlockOutChannels = channels.ToArray(),
            LayersPerBlock = layers,
            DownBlockTypes = Enumerable.Repeat("DownEncoderBlock2D", channels.Count).ToArray(),
            UpBlockTypes = Enumerable.Repeat("UpDecoderBlock2D", channels.Count).ToArray(),
        };
        return (cfg, $"norm_num_groups assumed {cfg.NormNumGroups} and scaling_factor {cfg.ScalingFactor} (SD v1): neither is visible in weight shapes");
    }
}
