using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// HF <c>CLIPModel</c> with a ViT image tower: <c>text_model.*</c>, <c>vision_model.*</c>, <c>text_projection</c>,
/// <c>visual_projection</c> (no biases), <c>logit_scale</c>. <see cref="Load"/> reads an HF folder
/// (<c>config.json</c> + <c>model.safetensors</c> or <c>pytorch_model.bin</c>), a single safetensors/torch file in HF or
/// openai/CLIP names, or an OpenAI release <c>.pt</c> (a TorchScript archive whose state is read by the safe unpickler;
/// none of its code runs). Embeddings are returned unnormalised, as <c>encode_image</c>/<c>encode_text</c> do.
/// </summary>
public sealed class ClipModel : nn.Module
{
    private static readonly string[] HfWeightFiles = ["model.safetensors", "pytorch_model.bin", "model.fp16.safetensors"];

    private readonly ClipTextTransformer text_model;
    private readonly ClipVisionTransformer vision_model;
    private readonly Linear text_projection;
    private readonly Linear visual_projection;
    private readonly Parameter logit_scale;

    public ClipConfig Config { get; }
    /// <summary>The file or folder the weights came from (for messages and cache keys).</summary>
    public string Source { get; private set; } = "";

    public ClipModel(ClipConfig config) : base(nameof(ClipModel))
    {
        Config = config;
        text_model = new ClipTextTransformer(config.Text);
        vision_model = new ClipVisionTransformer(config.Vision);
        text_projection = nn.Linear(config.Text.HiddenSize, config.ProjectionDim, hasBias: false);
        visual_projection = nn.Linear(config.Vision.HiddenSize, config.ProjectionDim, hasBias: false);
        logit_scale = new Parameter(torch.tensor(MathF.Log(1 / 0.07f)));
        RegisterComponents();
    }

    public int ImageSize => Config.Vision.ImageSize;

    /// <summary>CLIP-preprocessed pixels [B, 3, S, S] → image embeddings [B, D].</summary>
    public Tensor EncodeImage(Tensor pixels)
    {
        using var scope = torch.NewDisposeScope();
        return visual_projection.forward(vision_model.forward(pixels)).MoveToOuterDisposeScope();
    }

    /// <summary>Token ids [B, T] (start token, text, end token, padding) → text embeddings [B, D], taken at argmax(ids) (the end token).</summary>
    public Tensor EncodeText(Tensor ids)
    {
        using var scope = torch.NewDisposeScope();
        var last = text_model.forward(ids);
        var rows = torch.arange(ids.shape[0], dtype: ScalarType.Int64, device: last.device);
        var eos = ids.argmax(-1).to(last.device);
        var pooled = last.index(new TensorIndex[] { TensorIndex.Tensor(rows), TensorIndex.Tensor(eos) });
        return text_projection.forward(pooled).MoveToOuterDisposeScope();
    }

    public LoadReport LoadWeights(IReadOnlyDictionary<string, Tensor> weights, string source) => WeightLoader.Load(this, weights, source);

    /// <summary>Loads a CLIP model from an HF folder or one weights file (see the class summary); computes in float32 on the CPU.</summary>
    public static ClipModel Load(string path)
    {
        string file;
        JsonObject? configJson = null;
        if (Directory.Exists(path))
        {
            file = HfWeightFiles.Select(n => Path.Combine(path, n)).FirstOrDefault(File.Exists)
                   ?? throw new SonicException($"{path}: CLIP folder has none of {string.Join(", ", HfWeightFiles)}");
            string cfg = Path.Combine(path, "config.json");
            if (File.Exists(cfg))
            {
                try { configJson = JsonNode.Parse(File.ReadAllText(cfg)) as JsonObject; }
                catch (System.Text.Json.JsonException e) { throw new SonicException($"{cfg}: invalid JSON ({e.Message.Split('\n')[0]})"); }
            }
        }
        else if (File.Exists(path)) file = path;
        else throw new SonicException($"{path}: CLIP model not found (an HF folder or a .pt/.safetensors/.bin file)");

        var weights = ReadWeights(file);
        try
        {
            var config = ClipConfig.FromTensorShapes(weights.ToDictionary(kv => kv.Key, kv => kv.Value.shape), file, configJson);
            var model = new ClipModel(config) { Source = Path.GetFullPath(path) };
            model.LoadWeights(weights, file);
            model.eval();
            return model;
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
    }

    /// <summary>All weights of <paramref name="file"/> as float32 in HF names (openai/CLIP names are converted; position_ids dropped).</summary>
    public static Dictionary<string, Tensor> ReadWeights(string file)
    {
        using var src = TensorFiles.Open(file);
        var raw = new Dictionary<string, Tensor>();
        try
        {
            foreach (var name in src.Names)
            {
                if (name.EndsWith("position_ids", StringComparison.Ordinal)) continue;
                if (!src.Info(name).IsFloat) continue;
                raw[name] = src.Read(name, ScalarType.Float32);
            }
            if (!ClipCheckpointNames.IsOpenAi(raw.Keys)) return raw;
            var converted = ClipCheckpointNames.FromOpenAi(raw, file);
            foreach (var t in raw.Values) t.Dispose();
            return converted;
        }
        catch
        {
            foreach (var t in raw.Values) t.Dispose();
            throw;
        }
    }
}
