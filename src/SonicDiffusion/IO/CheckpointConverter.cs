using System.Globalization;
using SonicDiffusion.Core;
using SonicDiffusion.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.IO;

/// <summary>
/// The one place where every foreign parameter naming is mapped to the internal diffusers naming:
/// SD single-file / CompVis (UNet, VAE, text encoder), legacy diffusers VAE attention names, and the official
/// SonicDiffusion / CLAP files. Each section below owns one component.
/// </summary>
public static partial class CheckpointConverter
{
    // ------------------------------------------------------------------------------------------------------------
    // Stable Diffusion v1: single-file (CompVis/LDM) checkpoints → diffusers UNet / VAE names, HF CLIP text names.
    // ------------------------------------------------------------------------------------------------------------

    public const string SingleFileUNetPrefix = "model.diffusion_model.";
    public const string SingleFileVaePrefix = "first_stage_model.";
    public const string SingleFileTextEncoderPrefix = "cond_stage_model.transformer.";
    public const string SingleFileEmaPrefix = "model_ema.";

    /// <summary>Components of a Stable Diffusion checkpoint.</summary>
    [Flags]
    public enum SdComponents
    {
        None = 0,
        UNet = 1,
        Vae = 2,
        TextEncoder = 4,
        All = UNet | Vae | TextEncoder,
    }

    /// <summary>How a component's keys are named in a file.</summary>
    public enum SdNaming
    {
        /// <summary>SD single-file: CompVis names behind <c>model.diffusion_model.</c> / <c>first_stage_model.</c> / <c>cond_stage_model.transformer.</c>.</summary>
        SingleFile,
        /// <summary>CompVis names without the single-file prefix (e.g. <c>input_blocks.1.0...</c>, <c>encoder.down.0...</c>).</summary>
        CompVis,
        /// <summary>diffusers (UNet, VAE, including legacy VAE attention names) or HF <c>CLIPTextModel</c> (text encoder) names.</summary>
        Diffusers,
    }

    /// <summary>What a state dict holds: its components, each with its naming, and the keys that are not weights.</summary>
    public sealed record CheckpointContents(IReadOnlyDictionary<SdComponents, SdNaming> Naming, IReadOnlyList<string> Ignored)
    {
        public SdComponents Components => Naming.Keys.Aggregate(SdComponents.None, (a, b) => a | b);
        /// <summary>UNet, VAE and text encoder together (a full SD single-file checkpoint).</summary>
        public bool IsFullCheckpoint => Components == SdComponents.All;
        public bool Has(SdComponents c) => (Components & c) == c;
    }

    /// <summary>A state dict split by component, each in internal naming (diffusers UNet/VAE, HF CLIP text).</summary>
    public sealed record SdComponentWeights(
        Dictionary<string, Tensor> UNet,
        Dictionary<string, Tensor> Vae,
        Dictionary<string, Tensor> TextEncoder,
        IReadOnlyList<string> Ignored);

    /// <summary>Where one source key goes: component, internal name, and whether a [C,C,1,1] kernel becomes [C,C].</summary>
    public readonly record struct KeyTarget(SdComponents Component, string Name, bool ToLinear);

    private static readonly HashSet<string> ScheduleBuffers = new(StringComparer.Ordinal)
    {
        "betas", "alphas_cumprod", "alphas_cumprod_prev", "sqrt_alphas_cumprod", "sqrt_one_minus_alphas_cumprod",
        "log_one_minus_alphas_cumprod", "sqrt_recip_alphas_cumprod", "sqrt_recipm1_alphas_cumprod", "posterior_variance",
        "posterior_log_variance_clipped", "posterior_mean_coef1", "posterior_mean_coef2", "lvlb_weights", "logvar",
    };

    private static readonly HashSet<string> CompVisUNetRoots = new(StringComparer.Ordinal) { "input_blocks", "middle_block", "output_blocks", "time_embed", "out" };
    private static readonly HashSet<string> DiffusersUNetRoots = new(StringComparer.Ordinal) { "conv_in", "time_embedding", "down_blocks", "mid_block", "up_blocks", "conv_norm_out", "conv_out" };
    private static readonly HashSet<string> VaeRoots = new(StringComparer.Ordinal) { "encoder", "decoder", "quant_conv", "post_quant_conv" };

    /// <summary>Detects the components (and their naming) of a state dict from its key names alone.</summary>
    public static CheckpointContents Detect(IEnumerable<string> keys, string source = "checkpoint")
    {
        var plan = Plan(keys, source, SdComponents.All, null, null);
        return new CheckpointContents(plan.Naming, plan.Ignored);
    }

    /// <summary>
    /// Splits any SD v1 state dict (a full single-file checkpoint, one prefixed component, bare CompVis names or
    /// diffusers names) into its components in internal naming. EMA copies (<c>model_ema.*</c>), diffusion schedule
    /// buffers and the CLIP <c>position_ids</c> buffer are skipped and listed in <c>Ignored</c>; any other unknown key
    /// throws a <see cref="SonicException"/> naming it. The returned dicts share tensors with <paramref name="weights"/>
    /// (VAE attention kernels become [C,C] views).
    /// </summary>
    /// <param name="unetLayersPerBlock">CompVis UNet resnets per level; null = inferred from the keys.</param>
    /// <param name="vaeLevels">CompVis VAE resolution levels; null = inferred from the keys.</param>
    public static SdComponentWeights Split(IReadOnlyDictionary<string, Tensor> weights, string source = "checkpoint",
        int? unetLayersPerBlock = null, int? vaeLevels = null)
    {
        var plan = Plan(weights.Keys, source, SdComponents.All, unetLayersPerBlock, vaeLevels);
        var result = new SdComponentWeights(new(), new(), new(), plan.Ignored);
        foreach (var (key, target) in plan.Map)
        {
            var t = weights[key];
            if (target.ToLinear) t = ConvKernelToLinear(t, key, source);
            Bucket(result, target.Component)[target.Name] = t;
        }
        return result;
    }

    /// <summary>Like <see cref="Split"/> for a lazily read file: reads only the tensors of <paramref name="which"/>.</summary>
    public static SdComponentWeights Read(ITensorSource file, SdComponents which = SdComponents.All, ScalarType? floatDtype = null,
        int? unetLayersPerBlock = null, int? vaeLevels = null)
    {
        var plan = Plan(file.Names, file.Path, which, unetLayersPerBlock, vaeLevels);
        var result = new SdComponentWeights(new(), new(), new(), plan.Ignored);
        foreach (var (key, target) in plan.Map)
        {
            var t = file.Read(key, floatDtype);
            if (target.ToLinear)
            {
                var lin = ConvKernelToLinear(t, key, file.Path);
                if (!ReferenceEquals(lin, t)) t.Dispose();
                t = lin;
            }
            Bucket(result, target.Component)[target.Name] = t;
        }
        return result;
    }

    /// <summary>The components of a file in internal naming, each read one tensor at a time while it is loaded.</summary>
    public sealed record SdComponentSources(LazyWeights UNet, LazyWeights Vae, LazyWeights TextEncoder, IReadOnlyList<string> Ignored);

    /// <summary>Like <see cref="Read"/> without reading: each component's tensors are copied from the file when a module loads them.</summary>
    public static SdComponentSources Open(ITensorSource file, SdComponents which = SdComponents.All, int? unetLayersPerBlock = null, int? vaeLevels = null)
    {
        var plan = Plan(file.Names, file.Path, which, unetLayersPerBlock, vaeLevels);
        var shapes = new Dictionary<SdComponents, Dictionary<string, long[]>>
        {
            [SdComponents.UNet] = new(StringComparer.Ordinal), [SdComponents.Vae] = new(StringComparer.Ordinal), [SdComponents.TextEncoder] = new(StringComparer.Ordinal),
        };
        var keys = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, target) in plan.Map)
        {
            var shape = file.Info(key).Shape;
            shapes[target.Component][target.Name] = target.ToLinear ? LinearShape(shape, key, file.Path) : shape;
            keys[$"{target.Component}:{target.Name}"] = key;
        }
        LazyWeights Part(SdComponents c) => new(shapes[c], (name, dst) => file.CopyTo(keys[$"{c}:{name}"], dst));
        return new SdComponentSources(Part(SdComponents.UNet), Part(SdComponents.Vae), Part(SdComponents.TextEncoder), plan.Ignored);
    }

    /// <summary>Shapes of <paramref name="which"/> in internal naming (for <c>FromTensorShapes</c> without reading data).</summary>
    public static Dictionary<string, TensorInfo> Shapes(IReadOnlyDictionary<string, TensorInfo> infos, SdComponents which, string source = "checkpoint",
        int? unetLayersPerBlock = null, int? vaeLevels = null)
    {
        var plan = Plan(infos.Keys, source, which, unetLayersPerBlock, vaeLevels);
        var result = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
        foreach (var (key, target) in plan.Map)
        {
            if ((target.Component & which) == 0) continue;
            var info = infos[key];
            if (target.ToLinear) info = info with { Shape = LinearShape(info.Shape, key, source) };
            result[target.Name] = info;
        }
        return result;
    }

    /// <summary>Shapes of every tensor in a lazily read file.</summary>
    public static Dictionary<string, TensorInfo> Shapes(ITensorSource file, SdComponents which)
        => Shapes(file.Names.ToDictionary(n => n, file.Info), which, file.Path);

    /// <summary>Shapes of in-memory tensors (dtype spelled as in safetensors).</summary>
    public static Dictionary<string, TensorInfo> Shapes(IReadOnlyDictionary<string, Tensor> tensors)
        => tensors.ToDictionary(kv => kv.Key, kv => new TensorInfo(SafetensorsFile.FromScalarType(kv.Value.dtype), kv.Value.shape));

    /// <summary>The UNet part of any SD v1 state dict (single-file, bare CompVis or diffusers names), in diffusers names.</summary>
    public static Dictionary<string, Tensor> UNetFromCompVis(IReadOnlyDictionary<string, Tensor> weights, string source = "checkpoint", int? layersPerBlock = null)
        => Require(Split(weights, source, unetLayersPerBlock: layersPerBlock).UNet, "UNet", source);

    /// <summary>The VAE part of any SD v1 state dict, in diffusers names (legacy attention names and conv-shaped kernels normalised).</summary>
    public static Dictionary<string, Tensor> VaeFromCompVis(IReadOnlyDictionary<string, Tensor> weights, string source = "checkpoint", int? levels = null)
        => Require(Split(weights, source, vaeLevels: levels).Vae, "VAE", source);

    /// <summary>The CLIP text encoder part of any SD v1 state dict, in HF <c>CLIPTextModel</c> names (<c>text_model.*</c>).</summary>
    public static Dictionary<string, Tensor> TextEncoderFromSingleFile(IReadOnlyDictionary<string, Tensor> weights, string source = "checkpoint")
        => Require(Split(weights, source).TextEncoder, "text encoder", source);

    private static Dictionary<string, Tensor> Require(Dictionary<string, Tensor> part, string what, string source)
        => part.Count > 0 ? part : throw new SonicException($"{source}: no {what} tensors found");

    private static Dictionary<string, Tensor> Bucket(SdComponentWeights w, SdComponents c) => c switch
    {
        SdComponents.UNet => w.UNet,
        SdComponents.Vae => w.Vae,
        _ => w.TextEncoder,
    };

    private sealed record KeyPlan(Dictionary<string, KeyTarget> Map, Dictionary<SdComponents, SdNaming> Naming, List<string> Ignored);

    private static KeyPlan Plan(IEnumerable<string> keys, string source, SdComponents which, int? unetLayersPerBlock, int? vaeLevels)
    {
        var ignored = new List<string>();
        var naming = new Dictionary<SdComponents, SdNaming>();
        // component → (source key, key within the component, naming)
        var unet = new List<(string Key, string Inner, SdNaming Naming)>();
        var vae = new List<(string Key, string Inner, SdNaming Naming)>();
        var text = new List<(string Key, string Inner)>();
        foreach (var key in keys)
        {
            if (key.StartsWith(SingleFileEmaPrefix, StringComparison.Ordinal) || ScheduleBuffers.Contains(key) || key.EndsWith("position_ids", StringComparison.Ordinal))
            {
                ignored.Add(key);
                continue;
            }
            if (key.StartsWith(SingleFileUNetPrefix, StringComparison.Ordinal))
            {
                var inner = key[SingleFileUNetPrefix.Length..];
                unet.Add((key, inner, DiffusersUNetRoots.Contains(Root(inner)) ? SdNaming.Diffusers : SdNaming.SingleFile));
            }
            else if (key.StartsWith(SingleFileVaePrefix, StringComparison.Ordinal)) vae.Add((key, key[SingleFileVaePrefix.Length..], SdNaming.SingleFile));
            else if (key.StartsWith(SingleFileTextEncoderPrefix, StringComparison.Ordinal)) text.Add((key, key[SingleFileTextEncoderPrefix.Length..]));
            else if (key.StartsWith("cond_stage_model.", StringComparison.Ordinal))
                throw new SonicException($"{source}: tensor '{key}' belongs to a text encoder other than SD v1's CLIP (SD 2 OpenCLIP?), which is not supported");
            else if (CompVisUNetRoots.Contains(Root(key))) unet.Add((key, key, SdNaming.CompVis));
            else if (DiffusersUNetRoots.Contains(Root(key))) unet.Add((key, key, SdNaming.Diffusers));
            else if (VaeRoots.Contains(Root(key))) vae.Add((key, key, SdNaming.CompVis));
            else if (key.StartsWith("text_model.", StringComparison.Ordinal)) text.Add((key, key));
            else throw new SonicException($"{source}: tensor '{key}' is not part of a Stable Diffusion v1 UNet, VAE or CLIP text encoder");
        }

        var map = new Dictionary<string, KeyTarget>(StringComparer.Ordinal);
        var targets = new Dictionary<string, string>(StringComparer.Ordinal);
        void Add(string key, SdComponents c, string name, bool toLinear)
        {
            if (targets.TryGetValue($"{c}:{name}", out var other))
                throw new SonicException($"{source}: tensors '{other}' and '{key}' both map to {c} tensor '{name}'");
            targets[$"{c}:{name}"] = key;
            map[key] = new KeyTarget(c, name, toLinear);
        }

        if (unet.Count > 0)
        {
            var kinds = unet.Select(u => u.Naming == SdNaming.Diffusers ? SdNaming.Diffusers : SdNaming.CompVis).Distinct().ToList();
            if (kinds.Count > 1) throw new SonicException($"{source}: UNet tensors mix CompVis names (e.g. '{unet.First(u => u.Naming != SdNaming.Diffusers).Key}') and diffusers names (e.g. '{unet.First(u => u.Naming == SdNaming.Diffusers).Key}')");
            naming[SdComponents.UNet] = unet[0].Naming;
            if ((which & SdComponents.UNet) != 0)
            {
                if (kinds[0] == SdNaming.Diffusers)
                    foreach (var u in unet) Add(u.Key, SdComponents.UNet, u.Inner, false);
                else
                {
                    int layers = unetLayersPerBlock ?? InferCompVisUNetLayersPerBlock(unet.Select(u => u.Inner), source);
                    foreach (var u in unet) Add(u.Key, SdComponents.UNet, MapUNetKey(u.Inner, layers, source, u.Key), false);
                }
            }
        }

        if (vae.Count > 0)
        {
            bool compVis = vae.Any(v => IsCompVisVaeKey(v.Inner));
            bool diffusers = vae.Any(v => IsDiffusersVaeKey(v.Inner));
            if (compVis && diffusers)
                throw new SonicException($"{source}: VAE tensors mix CompVis names (e.g. '{vae.First(v => IsCompVisVaeKey(v.Inner)).Key}') and diffusers names (e.g. '{vae.First(v => IsDiffusersVaeKey(v.Inner)).Key}')");
            bool prefixed = vae[0].Naming == SdNaming.SingleFile;
            naming[SdComponents.Vae] = prefixed ? SdNaming.SingleFile : diffusers ? SdNaming.Diffusers : SdNaming.CompVis;
            if ((which & SdComponents.Vae) != 0)
            {
                if (diffusers)
                    foreach (var v in vae)
                    {
                        var (name, toLinear) = NormalizeDiffusersVaeKey(v.Inner);
                        Add(v.Key, SdComponents.Vae, name, toLinear);
                    }
                else
                {
                    bool leveled = vae.Any(v => v.Inner.StartsWith("encoder.down.", StringComparison.Ordinal) || v.Inner.StartsWith("decoder.up.", StringComparison.Ordinal));
                    int levels = vaeLevels ?? (leveled ? InferCompVisVaeLevels(vae.Select(v => v.Inner), source) : 0);
                    foreach (var v in vae)
                    {
                        var (name, toLinear) = MapVaeKey(v.Inner, levels, source, v.Key);
                        Add(v.Key, SdComponents.Vae, name, toLinear);
                    }
                }
            }
        }

        if (text.Count > 0)
        {
            naming[SdComponents.TextEncoder] = text[0].Key == text[0].Inner ? SdNaming.Diffusers : SdNaming.SingleFile;
            if ((which & SdComponents.TextEncoder) != 0)
                foreach (var t in text) Add(t.Key, SdComponents.TextEncoder, MapTextEncoderKey(t.Inner), false);
        }
        return new KeyPlan(map, naming, ignored);
    }

    private static string Root(string key)
    {
        int dot = key.IndexOf('.');
        return dot < 0 ? key : key[..dot];
    }

    // ---- UNet ----------------------------------------------------------------------------------------------------

    /// <summary>
    /// Resnets per level of a CompVis UNet from its (unprefixed) keys: the first downsampler <c>input_blocks.n.0.op</c>
    /// sits at n = layers + 1; without one (a single level) it is the last input block index.
    /// </summary>
    public static int InferCompVisUNetLayersPerBlock(IEnumerable<string> compVisKeys, string source = "checkpoint")
    {
        int firstOp = int.MaxValue, maxInput = 0;
        foreach (var k in compVisKeys)
        {
            var p = k.Split('.');
            if (p.Length < 3 || p[0] != "input_blocks" || !int.TryParse(p[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n)) continue;
            maxInput = Math.Max(maxInput, n);
            if (p[2] == "0" && p.Length > 3 && p[3] == "op" && n > 0) firstOp = Math.Min(firstOp, n);
        }
        int layers = firstOp != int.MaxValue ? firstOp - 1 : maxInput;
        if (layers < 1) throw new SonicException($"{source}: cannot infer the UNet's resnets per level from its keys (no input_blocks.<n>.0.op downsampler and no input block after input_blocks.0)");
        return layers;
    }

    /// <summary>
    /// Maps one CompVis UNet key (without <c>model.diffusion_model.</c>) to its diffusers name, for a UNet with
    /// <paramref name="layersPerBlock"/> resnets per down level (any number of levels). Throws a <see cref="SonicException"/>
    /// naming <paramref name="originalKey"/> for a key that is not part of a CompVis SD UNet. Keys below a transformer
    /// (including SonicDiffusion's <c>attn_adapter</c>, <c>norm_adapter</c>, <c>gate_adapter</c>) keep their sub-names.
    /// </summary>
    public static string MapUNetKey(string compVisKey, int layersPerBlock, string source = "checkpoint", string? originalKey = null)
    {
        SonicException Error(string why) => new($"{source}: UNet tensor '{originalKey ?? compVisKey}' {why}");
        string Fail(string why) => throw Error(why);
        var p = compVisKey.Split('.');
        int Index(int i) => i < p.Length && int.TryParse(p[i], NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : throw Error("has no valid block index");
        int span = layersPerBlock + 1;

        switch (p[0])
        {
            case "time_embed" when p.Length == 3 && p[1] == "0": return "time_embedding.linear_1." + p[2];
            case "time_embed" when p.Length == 3 && p[1] == "2": return "time_embedding.linear_2." + p[2];
            case "out" when p.Length == 3 && p[1] == "0": return "conv_norm_out." + p[2];
            case "out" when p.Length == 3 && p[1] == "2": return "conv_out." + p[2];
            case "input_blocks":
            {
                int n = Index(1), sub = Index(2);
                if (n == 0) return sub == 0 && p.Length == 4 ? "conv_in." + p[3] : Fail("is not the input convolution");
                int level = (n - 1) / span, layer = (n - 1) % span;
                if (layer == layersPerBlock)
                    return sub == 0 && p.Length == 5 && p[3] == "op" ? $"down_blocks.{level}.downsamplers.0.conv.{p[4]}" : Fail("is not a downsampler convolution");
                if (sub == 0) return $"down_blocks.{level}.resnets.{layer}.{MapResBlock(p, 3, Error)}";
                if (sub == 1) return $"down_blocks.{level}.attentions.{layer}.{CheckTransformer(p, 3, Error)}";
                return Fail("has an unknown sub-module index");
            }
            case "middle_block":
            {
                int sub = Index(1);
                return sub switch
                {
                    0 => "mid_block.resnets.0." + MapResBlock(p, 2, Error),
                    1 => "mid_block.attentions.0." + CheckTransformer(p, 2, Error),
                    2 => "mid_block.resnets.1." + MapResBlock(p, 2, Error),
                    _ => Fail("has an unknown middle-block index"),
                };
            }
            case "output_blocks":
            {
                int n = Index(1), sub = Index(2);
                int level = n / span, layer = n % span;
                if (sub == 0) return $"up_blocks.{level}.resnets.{layer}.{MapResBlock(p, 3, Error)}";
                if (p.Length == 5 && p[3] == "conv" && (sub == 1 || sub == 2))
                    return layer == layersPerBlock ? $"up_blocks.{level}.upsamplers.0.conv.{p[4]}" : Fail("is an upsampler inside a level (check layers per block)");
                if (sub == 1) return $"up_blocks.{level}.attentions.{layer}.{CheckTransformer(p, 3, Error)}";
                return Fail("has an unknown sub-module index");
            }
        }
        return Fail("is not part of a CompVis UNetModel");
    }

    private static string MapResBlock(string[] p, int from, Func<string, SonicException> error)
    {
        if (p.Length - from == 2 && p[from] == "skip_connection") return "conv_shortcut." + p[from + 1];
        if (p.Length - from != 3) throw error("is not a ResBlock parameter");
        string name = (p[from], p[from + 1]) switch
        {
            ("in_layers", "0") => "norm1",
            ("in_layers", "2") => "conv1",
            ("emb_layers", "1") => "time_emb_proj",
            ("out_layers", "0") => "norm2",
            ("out_layers", "3") => "conv2",
            _ => throw error("is not a ResBlock parameter"),
        };
        return name + "." + p[from + 2];
    }

    private static string CheckTransformer(string[] p, int from, Func<string, SonicException> error)
    {
        if (p.Length <= from + 1 || p[from] is not ("norm" or "proj_in" or "proj_out" or "transformer_blocks"))
            throw error("is not a SpatialTransformer parameter");
        return string.Join('.', p.Skip(from));
    }

    // ---- VAE -----------------------------------------------------------------------------------------------------

    private static bool IsCompVisVaeKey(string k) =>
        k.StartsWith("encoder.down.", StringComparison.Ordinal) || k.StartsWith("decoder.up.", StringComparison.Ordinal)
        || k.StartsWith("encoder.mid.", StringComparison.Ordinal) || k.StartsWith("decoder.mid.", StringComparison.Ordinal)
        || k.StartsWith("encoder.norm_out.", StringComparison.Ordinal) || k.StartsWith("decoder.norm_out.", StringComparison.Ordinal);

    private static bool IsDiffusersVaeKey(string k) =>
        k.StartsWith("encoder.down_blocks.", StringComparison.Ordinal) || k.StartsWith("decoder.up_blocks.", StringComparison.Ordinal)
        || k.StartsWith("encoder.mid_block.", StringComparison.Ordinal) || k.StartsWith("decoder.mid_block.", StringComparison.Ordinal)
        || k.StartsWith("encoder.conv_norm_out.", StringComparison.Ordinal) || k.StartsWith("decoder.conv_norm_out.", StringComparison.Ordinal);

    /// <summary>Resolution levels of a CompVis VAE from its (unprefixed) keys: 1 + the largest <c>encoder.down.i</c> / <c>decoder.up.i</c>.</summary>
    public static int InferCompVisVaeLevels(IEnumerable<string> compVisKeys, string source = "checkpoint")
    {
        int max = -1;
        foreach (var k in compVisKeys)
        {
            var p = k.Split('.');
            if (p.Length > 2 && ((p[0] == "encoder" && p[1] == "down") || (p[0] == "decoder" && p[1] == "up"))
                && int.TryParse(p[2], NumberStyles.None, CultureInfo.InvariantCulture, out int i))
                max = Math.Max(max, i);
        }
        return max >= 0 ? max + 1 : throw new SonicException($"{source}: cannot infer the VAE's levels (no encoder.down.<i> or decoder.up.<i> keys)");
    }

    /// <summary>
    /// Maps one CompVis VAE key (without <c>first_stage_model.</c>) to its diffusers name for a VAE with
    /// <paramref name="levels"/> resolution levels (decoder <c>up.k</c> = <c>up_blocks.(levels−1−k)</c>). ToLinear is true
    /// for the mid-attention q/k/v/proj_out kernels, which are [C,C,1,1] in CompVis and [C,C] in diffusers.
    /// </summary>
    public static (string Name, bool ToLinear) MapVaeKey(string compVisKey, int levels, string source = "checkpoint", string? originalKey = null)
    {
        SonicException Error(string why) => new($"{source}: VAE tensor '{originalKey ?? compVisKey}' {why}");
        (string, bool) Fail(string why) => throw Error(why);
        var p = compVisKey.Split('.');
        int Index(int i) => i < p.Length && int.TryParse(p[i], NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v : throw Error("has no valid block index");
        if (p[0] is "quant_conv" or "post_quant_conv") return p.Length == 2 ? (compVisKey, false) : Fail("is not a quant conv parameter");
        if (p.Length < 3 || p[0] is not ("encoder" or "decoder")) return Fail("is not part of a CompVis VAE");
        string side = p[0];
        switch (p[1])
        {
            case "conv_in" or "conv_out" when p.Length == 3: return (compVisKey, false);
            case "norm_out" when p.Length == 3: return ($"{side}.conv_norm_out.{p[2]}", false);
            case "mid" when p.Length >= 4:
                switch (p[2])
                {
                    case "block_1": return ($"{side}.mid_block.resnets.0.{MapVaeResBlock(p, 3, Error)}", false);
                    case "block_2": return ($"{side}.mid_block.resnets.1.{MapVaeResBlock(p, 3, Error)}", false);
                    case "attn_1" when p.Length == 5:
                        string? name = p[3] switch { "norm" => "group_norm", "q" => "to_q", "k" => "to_k", "v" => "to_v", "proj_out" => "to_out.0", _ => null };
                        return name == null ? Fail("is not a mid-attention parameter") : ($"{side}.mid_block.attentions.0.{name}.{p[4]}", name != "group_norm" && p[4] == "weight");
                }
                return Fail("is not a mid-block parameter");
            case "down" when side == "encoder" && p.Length >= 5:
            {
                int i = Index(2);
                if (p[3] == "block") return ($"encoder.down_blocks.{i}.resnets.{Index(4)}.{MapVaeResBlock(p, 5, Error)}", false);
                if (p[3] == "downsample" && p.Length == 6 && p[4] == "conv") return ($"encoder.down_blocks.{i}.downsamplers.0.conv.{p[5]}", false);
                return Fail("is not an encoder level parameter");
            }
            case "up" when side == "decoder" && p.Length >= 5:
            {
                int k = Index(2);
                if (k >= levels) return Fail($"has level {k} but the VAE has {levels} levels");
                int i = levels - 1 - k;
                if (p[3] == "block") return ($"decoder.up_blocks.{i}.resnets.{Index(4)}.{MapVaeResBlock(p, 5, Error)}", false);
                if (p[3] == "upsample" && p.Length == 6 && p[4] == "conv") return ($"decoder.up_blocks.{i}.upsamplers.0.conv.{p[5]}", false);
                return Fail("is not a decoder level parameter");
            }
        }
        return Fail("is not part of a CompVis VAE");
    }

    private static string MapVaeResBlock(string[] p, int from, Func<string, SonicException> error)
    {
        if (p.Length - from != 2) throw error("is not a ResnetBlock parameter");
        return p[from] switch
        {
            "norm1" or "conv1" or "norm2" or "conv2" => p[from] + "." + p[from + 1],
            "nin_shortcut" => "conv_shortcut." + p[from + 1],
            _ => throw error("is not a ResnetBlock parameter"),
        };
    }

    /// <summary>
    /// diffusers VAE key → current diffusers name: the legacy mid-attention names <c>query</c>, <c>key</c>, <c>value</c>,
    /// <c>proj_attn</c> become <c>to_q</c>, <c>to_k</c>, <c>to_v</c>, <c>to_out.0</c>. ToLinear marks attention
    /// projection weights, which some files store as [C,C,1,1].
    /// </summary>
    public static (string Name, bool ToLinear) NormalizeDiffusersVaeKey(string key)
    {
        const string marker = ".attentions.0.";
        int at = key.IndexOf(marker, StringComparison.Ordinal);
        if (at < 0) return (key, false);
        string head = key[..(at + marker.Length)], tail = key[(at + marker.Length)..];
        string? proj = tail.StartsWith("query.", StringComparison.Ordinal) ? "to_q" + tail[5..]
            : tail.StartsWith("key.", StringComparison.Ordinal) ? "to_k" + tail[3..]
            : tail.StartsWith("value.", StringComparison.Ordinal) ? "to_v" + tail[5..]
            : tail.StartsWith("proj_attn.", StringComparison.Ordinal) ? "to_out.0" + tail[9..]
            : tail.StartsWith("to_", StringComparison.Ordinal) ? tail : null;
        if (proj == null) return (key, false);
        return (head + proj, proj.EndsWith(".weight", StringComparison.Ordinal));
    }

    /// <summary>[C,C,1,1] → [C,C] view; [C,C] passes through; anything else throws naming the key.</summary>
    private static Tensor ConvKernelToLinear(Tensor t, string key, string source)
    {
        var shape = LinearShape(t.shape, key, source);
        return t.dim() == 2 ? t : t.reshape(shape);
    }

    private static long[] LinearShape(long[] shape, string key, string source)
    {
        if (shape.Length == 2) return shape;
        if (shape.Length == 4 && shape[2] == 1 && shape[3] == 1) return [shape[0], shape[1]];
        throw new SonicException($"{source}: VAE attention tensor '{key}' has shape [{string.Join(",", shape)}], expected [C,C] or [C,C,1,1]");
    }

    // ---- CLIP text encoder ---------------------------------------------------------------------------------------

    /// <summary>
    /// Key after <c>cond_stage_model.transformer.</c> → HF <c>CLIPTextModel</c> name: already HF-named in SD v1 files;
    /// files from old transformers versions lack the <c>text_model.</c> level, which is added.
    /// </summary>
    public static string MapTextEncoderKey(string key)
        => key.StartsWith("text_model.", StringComparison.Ordinal) ? key : "text_model." + key;

    // ------------------------------------------------------------------------------------------------------------
    // SonicDiffusion official files (gate dict, audio projector) and the CLAP 2022 audio branch.
    // ------------------------------------------------------------------------------------------------------------

    /// <summary>Prefix of the audio branch in <c>CLAP_weights_2022.pth['model']</c>.</summary>
    public const string ClapAudioPrefix = "audio_encoder.";

    /// <summary>
    /// Picks the audio branch out of a CLAP checkpoint's <c>model</c> dict and strips <paramref name="prefix"/>
    /// (<c>audio_encoder.</c>); the text branch (<c>caption_encoder.*</c>), <c>logit_scale</c> and anything else are left out.
    /// The returned tensors are the same objects as in the input.
    /// </summary>
    public static Dictionary<string, Tensor> SelectAudioWeights(IReadOnlyDictionary<string, Tensor> clapModelDict, string prefix = ClapAudioPrefix)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in clapModelDict)
            if (k.StartsWith(prefix, StringComparison.Ordinal)) result[k[prefix.Length..]] = v;
        return result;
    }

    /// <summary>Reads only the audio branch of a CLAP checkpoint file (prefix stripped, floats as <paramref name="floatDtype"/>).</summary>
    public static Dictionary<string, Tensor> ReadAudioWeights(ITensorSource file, ScalarType? floatDtype = null, string prefix = ClapAudioPrefix)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var n in file.Names)
                if (n.StartsWith(prefix, StringComparison.Ordinal)) result[n[prefix.Length..]] = file.Read(n, floatDtype);
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>
    /// One gate-dict key → the diffusers UNet name of that adapter tensor. Diffusers names (the released files) pass
    /// unchanged; CompVis names (an LDM-trained model, with or without <c>model.diffusion_model.</c>) are mapped with
    /// <see cref="MapUNetKey"/>; a leading <c>unet.</c> is dropped.
    /// </summary>
    public static string GateKeyToDiffusers(string key, int layersPerBlock, string source = "gate dict")
    {
        string k = key.StartsWith(SingleFileUNetPrefix, StringComparison.Ordinal) ? key[SingleFileUNetPrefix.Length..]
            : key.StartsWith("unet.", StringComparison.Ordinal) ? key["unet.".Length..] : key;
        string root = k.Split('.')[0];
        if (DiffusersUNetRoots.Contains(root)) return k;
        if (CompVisUNetRoots.Contains(root)) return MapUNetKey(k, layersPerBlock, source, key);
        throw new SonicException($"{source}: tensor '{key}' is not named like a UNet adapter (diffusers or CompVis UNet name expected)");
    }

    /// <summary>
    /// The adapter tensors of a gate dict in diffusers names (same tensor objects). Tensors that are not adapter
    /// tensors (e.g. a whole UNet saved with its adapters) are left out and listed in <paramref name="ignored"/>;
    /// a file without any adapter tensor is refused.
    /// </summary>
    public static Dictionary<string, Tensor> GateDictToDiffusers(IReadOnlyDictionary<string, Tensor> dict, int layersPerBlock, string source, out List<string> ignored)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        ignored = new List<string>();
        foreach (var (k, v) in dict)
        {
            if (!GatedAudioAttention.IsAdapterTensor(k)) { ignored.Add(k); continue; }
            var name = GateKeyToDiffusers(k, layersPerBlock, source);
            if (!result.TryAdd(name, v)) throw new SonicException($"{source}: two tensors map to the adapter name '{name}'");
        }
        if (result.Count == 0)
            throw new SonicException($"{source}: no SonicDiffusion adapter tensors (attn_adapter / norm_adapter / gate_adapter) in this file");
        return result;
    }
}
