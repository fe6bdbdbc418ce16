using System.Globalization;
using SonicDiffusion.Core;

namespace SonicDiffusion.IO;

public static partial class CheckpointConverter
{
    // ------------------------------------------------------------------------------------------------------------
    // The reverse direction: internal (diffusers) names → the single-file (CompVis/LDM) names that SD v1 .ckpt and
    // .safetensors files carry. Every name is checked by mapping it forward again, so the two directions cannot drift.
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>
    /// Single-file names (with the <c>model.diffusion_model.</c>, <c>first_stage_model.</c> and
    /// <c>cond_stage_model.transformer.</c> prefixes) for the internal names of a UNet, VAE and CLIP text encoder.
    /// VAE mid-attention projection weights are marked: single files store them as [C,C,1,1].
    /// </summary>
    public static Dictionary<string, (SdComponents Component, string InternalName, bool ToConvKernel)> SingleFileNames(
        IEnumerable<string> unetNames, IEnumerable<string> vaeNames, IEnumerable<string> textNames)
    {
        var unet = unetNames.ToList();
        var vae = vaeNames.ToList();
        int layers = unet.Where(n => n.StartsWith("down_blocks.0.resnets.", StringComparison.Ordinal))
            .Select(n => int.Parse(n.Split('.')[3], CultureInfo.InvariantCulture)).DefaultIfEmpty(-1).Max() + 1;
        if (layers <= 0) throw new SonicException("UNet: no down_blocks.0.resnets.* parameters; cannot name it in single-file form");
        int levels = vae.Where(n => n.StartsWith("encoder.down_blocks.", StringComparison.Ordinal))
            .Select(n => int.Parse(n.Split('.')[2], CultureInfo.InvariantCulture)).DefaultIfEmpty(-1).Max() + 1;
        if (levels <= 0) throw new SonicException("VAE: no encoder.down_blocks.* parameters; cannot name it in single-file form");
        var upWithAttention = unet.Where(n => n.StartsWith("up_blocks.", StringComparison.Ordinal) && n.Split('.')[2] == "attentions")
            .Select(n => n.Split('.')[1]).ToHashSet(StringComparer.Ordinal);

        var result = new Dictionary<string, (SdComponents, string, bool)>(StringComparer.Ordinal);
        foreach (var n in unet)
        {
            var compVis = UNetKeyToCompVis(n, layers, upWithAttention);
            if (MapUNetKey(compVis, layers) != n) throw new SonicException($"UNet tensor '{n}': its single-file name '{compVis}' does not map back");
            result.Add(SingleFileUNetPrefix + compVis, (SdComponents.UNet, n, false));
        }
        foreach (var n in vae)
        {
            var (compVis, toKernel) = VaeKeyToCompVis(n, levels);
            if (MapVaeKey(compVis, levels).Name != n) throw new SonicException($"VAE tensor '{n}': its single-file name '{compVis}' does not map back");
            result.Add(SingleFileVaePrefix + compVis, (SdComponents.Vae, n, toKernel));
        }
        foreach (var n in textNames) result.Add(SingleFileTextEncoderPrefix + n, (SdComponents.TextEncoder, n, false));
        return result;
    }

    private static string UNetKeyToCompVis(string name, int layers, IReadOnlySet<string> upWithAttention)
    {
        var p = name.Split('.');
        string Rest(int from) => string.Join('.', p.Skip(from));
        int I(int i) => int.Parse(p[i], CultureInfo.InvariantCulture);
        int span = layers + 1;
        SonicException Error() => new($"UNet tensor '{name}' has no single-file name");
        switch (p[0])
        {
            case "conv_in": return "input_blocks.0.0." + Rest(1);
            case "time_embedding": return (p[1] == "linear_1" ? "time_embed.0." : p[1] == "linear_2" ? "time_embed.2." : throw Error()) + Rest(2);
            case "conv_norm_out": return "out.0." + Rest(1);
            case "conv_out": return "out.2." + Rest(1);
            case "down_blocks":
                return p[2] switch
                {
                    "resnets" => $"input_blocks.{span * I(1) + I(3) + 1}.0.{ResBlockToCompVis(p, 4, name)}",
                    "attentions" => $"input_blocks.{span * I(1) + I(3) + 1}.1.{Rest(4)}",
                    "downsamplers" when p[4] == "conv" => $"input_blocks.{span * (I(1) + 1)}.0.op.{Rest(5)}",
                    _ => throw Error(),
                };
            case "mid_block":
                return p[1] switch
                {
                    "resnets" => $"middle_block.{2 * I(2)}.{ResBlockToCompVis(p, 3, name)}",
                    "attentions" => $"middle_block.1.{Rest(3)}",
                    _ => throw Error(),
                };
            case "up_blocks":
                return p[2] switch
                {
                    "resnets" => $"output_blocks.{span * I(1) + I(3)}.0.{ResBlockToCompVis(p, 4, name)}",
                    "attentions" => $"output_blocks.{span * I(1) + I(3)}.1.{Rest(4)}",
                    "upsamplers" when p[4] == "conv" => $"output_blocks.{span * I(1) + layers}.{(upWithAttention.Contains(p[1]) ? 2 : 1)}.conv.{Rest(5)}",
                    _ => throw Error(),
                };
        }
        throw Error();
    }

    private static string ResBlockToCompVis(string[] p, int from, string name) => p[from] switch
    {
        "norm1" => "in_layers.0.",
        "conv1" => "in_layers.2.",
        "time_emb_proj" => "emb_layers.1.",
        "norm2" => "out_layers.0.",
        "conv2" => "out_layers.3.",
        "conv_shortcut" => "skip_connection.",
        _ => throw new SonicException($"UNet tensor '{name}' has no single-file name"),
    } + string.Join('.', p.Skip(from + 1));

    private static (string Name, bool ToConvKernel) VaeKeyToCompVis(string name, int levels)
    {
        var p = name.Split('.');
        string Rest(int from) => string.Join('.', p.Skip(from));
        int I(int i) => int.Parse(p[i], CultureInfo.InvariantCulture);
        SonicException Error() => new($"VAE tensor '{name}' has no single-file name");
        if (p[0] is "quant_conv" or "post_quant_conv") return (name, false);
        if (p[0] is not ("encoder" or "decoder") || p.Length < 3) throw Error();
        string side = p[0];
        string Res(int from) => p[from] == "conv_shortcut" ? "nin_shortcut." + Rest(from + 1) : Rest(from);
        switch (p[1])
        {
            case "conv_in" or "conv_out": return (name, false);
            case "conv_norm_out": return ($"{side}.norm_out.{Rest(2)}", false);
            case "mid_block" when p[2] == "resnets": return ($"{side}.mid.block_{I(3) + 1}.{Res(4)}", false);
            case "mid_block" when p[2] == "attentions":
            {
                string tail = Rest(4);
                string? mapped = tail.StartsWith("group_norm.", StringComparison.Ordinal) ? "norm." + tail[11..]
                    : tail.StartsWith("to_q.", StringComparison.Ordinal) ? "q." + tail[5..]
                    : tail.StartsWith("to_k.", StringComparison.Ordinal) ? "k." + tail[5..]
                    : tail.StartsWith("to_v.", StringComparison.Ordinal) ? "v." + tail[5..]
                    : tail.StartsWith("to_out.0.", StringComparison.Ordinal) ? "proj_out." + tail[9..] : null;
                if (mapped == null) throw Error();
                return ($"{side}.mid.attn_1.{mapped}", !mapped.StartsWith("norm.", StringComparison.Ordinal) && mapped.EndsWith(".weight", StringComparison.Ordinal));
            }
            case "down_blocks" when side == "encoder" && p.Length > 5 && p[3] == "resnets":
                return ($"encoder.down.{I(2)}.block.{I(4)}.{Res(5)}", false);
            case "down_blocks" when side == "encoder" && p.Length > 5 && p[3] == "downsamplers" && p[5] == "conv":
                return ($"encoder.down.{I(2)}.downsample.conv.{Rest(6)}", false);
            case "up_blocks" when side == "decoder" && p.Length > 5 && p[3] == "resnets":
                return ($"decoder.up.{levels - 1 - I(2)}.block.{I(4)}.{Res(5)}", false);
            case "up_blocks" when side == "decoder" && p.Length > 5 && p[3] == "upsamplers" && p[5] == "conv":
                return ($"decoder.up.{levels - 1 - I(2)}.upsample.conv.{Rest(6)}", false);
        }
        throw Error();
    }
}
