using System.Text.RegularExpressions;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// openai/CLIP <c>model.py</c> parameter names → HF <c>CLIPModel</c> names (the one place this conversion lives).
/// <c>in_proj_weight/bias</c> are split into q/k/v; <c>visual.proj</c> and <c>text_projection</c> ([width, dim],
/// used as <c>x @ proj</c>) become Linear weights [dim, width]. Entries that are not weights (the JIT archive's
/// <c>attn_mask</c>, <c>input_resolution</c>, <c>context_length</c>, <c>vocab_size</c>) are dropped.
/// </summary>
public static class ClipCheckpointNames
{
    private static readonly Regex Block = new(@"^(visual\.)?transformer\.resblocks\.(\d+)\.(.+)$", RegexOptions.CultureInvariant);

    /// <summary>True when the names are openai/CLIP's (a ViT model: <c>visual.proj</c> present).</summary>
    public static bool IsOpenAi(IEnumerable<string> names) => names.Contains("visual.proj") && names.Contains("text_projection");

    /// <summary>New tensors in HF names; the inputs are left to the caller.</summary>
    public static Dictionary<string, Tensor> FromOpenAi(IReadOnlyDictionary<string, Tensor> w, string source)
    {
        var o = new Dictionary<string, Tensor>();
        foreach (var (key, t) in w)
        {
            var m = Block.Match(key);
            if (m.Success)
            {
                string tower = m.Groups[1].Success ? "vision_model" : "text_model";
                string prefix = $"{tower}.encoder.layers.{m.Groups[2].Value}.";
                switch (m.Groups[3].Value)
                {
                    case "attn.in_proj_weight":
                    case "attn.in_proj_bias":
                        {
                            string kind = m.Groups[3].Value.EndsWith("weight", StringComparison.Ordinal) ? "weight" : "bias";
                            var parts = t.chunk(3, 0);
                            string[] names = ["q_proj", "k_proj", "v_proj"];
                            for (int i = 0; i < 3; i++) o[$"{prefix}self_attn.{names[i]}.{kind}"] = parts[i].contiguous();
                            foreach (var p in parts) p.Dispose();
                            break;
                        }
                    case var rest:
                        string? mapped = rest switch
                        {
                            "attn.out_proj.weight" => "self_attn.out_proj.weight",
                            "attn.out_proj.bias" => "self_attn.out_proj.bias",
                            "ln_1.weight" => "layer_norm1.weight",
                            "ln_1.bias" => "layer_norm1.bias",
                            "ln_2.weight" => "layer_norm2.weight",
                            "ln_2.bias" => "layer_norm2.bias",
                            "mlp.c_fc.weight" => "mlp.fc1.weight",
                            "mlp.c_fc.bias" => "mlp.fc1.bias",
                            "mlp.c_proj.weight" => "mlp.fc2.weight",
                            "mlp.c_proj.bias" => "mlp.fc2.bias",
                            "attn_mask" => null,
                            _ => throw new Core.SonicException($"{source}: unknown CLIP block entry '{key}'"),
                        };
                        if (mapped != null) o[prefix + mapped] = t.clone();
                        break;
                }
                continue;
            }
            string? name = key switch
            {
                "visual.conv1.weight" => "vision_model.embeddings.patch_embedding.weight",
                "visual.class_embedding" => "vision_model.embeddings.class_embedding",
                "visual.positional_embedding" => "vision_model.embeddings.position_embedding.weight",
                "visual.ln_pre.weight" => "vision_model.pre_layrnorm.weight",
                "visual.ln_pre.bias" => "vision_model.pre_layrnorm.bias",
                "visual.ln_post.weight" => "vision_model.post_layernorm.weight",
                "visual.ln_post.bias" => "vision_model.post_layernorm.bias",
                "token_embedding.weight" => "text_model.embeddings.token_embedding.weight",
                "positional_embedding" => "text_model.embeddings.position_embedding.weight",
                "ln_final.weight" => "text_model.final_layer_norm.weight",
                "ln_final.bias" => "text_model.final_layer_norm.bias",
                "logit_scale" => "logit_scale",
                "visual.proj" or "text_projection" or "input_resolution" or "context_length" or "vocab_size" => null,
                _ => throw new Core.SonicException($"{source}: unknown CLIP entry '{key}'"),
            };
            if (name != null) o[name] = t.clone();
        }
        o["visual_projection.weight"] = w["visual.proj"].t().contiguous();
        o["text_projection.weight"] = w["text_projection"].t().contiguous();
        return o;
    }
}
