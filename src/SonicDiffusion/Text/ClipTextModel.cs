using SonicDiffusion.Core;
using SonicDiffusion.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Text;

/// <summary>
/// HF <c>CLIPTextModel</c> (SD v1 text encoder). Parameters are named exactly as HF:
/// <c>text_model.embeddings.{token,position}_embedding.weight</c>, <c>text_model.encoder.layers.N.{self_attn.{q,k,v,out}_proj,
/// layer_norm1, mlp.fc1, mlp.fc2, layer_norm2}</c>, <c>text_model.final_layer_norm</c>.
/// <see cref="forward"/> returns last_hidden_state, which SD v1 uses as cross-attention context.
/// </summary>
public sealed class ClipTextModel : nn.Module<Tensor, Tensor>
{
    /// <summary>HF's int64 position buffer, stored by older checkpoints; positions are always 0..T-1 here, so it is dropped on load.</summary>
    public const string PositionIdsKey = "text_model.embeddings.position_ids";

    private readonly ClipTextTransformer text_model;

    public ClipTextConfig Config { get; }

    public ClipTextModel(ClipTextConfig config) : base(nameof(ClipTextModel))
    {
        Config = config.Validated("CLIP text config");
        text_model = new ClipTextTransformer(config);
        RegisterComponents();
    }

    /// <summary>int64 ids [B, T] (T ≤ max_position_embeddings) → last_hidden_state [B, T, C].</summary>
    public override Tensor forward(Tensor inputIds) => text_model.Forward(inputIds, null);

    /// <summary>
    /// Full forward: last_hidden_state, pooler_output = last_hidden_state at argmax(ids) per row (the first end token:
    /// HF's rule for configs with the legacy eos_token_id 2, which SD v1 has), and optionally HF hidden_states.
    /// </summary>
    public ClipTextOutput Run(Tensor inputIds, bool outputHiddenStates = false)
    {
        var hidden = outputHiddenStates ? new List<Tensor>() : null;
        var last = text_model.Forward(inputIds, hidden);
        using var scope = torch.NewDisposeScope();
        var rows = torch.arange(inputIds.shape[0], dtype: ScalarType.Int64, device: last.device);
        var eos = inputIds.argmax(-1).to(last.device);
        var pooled = last.index(new TensorIndex[] { TensorIndex.Tensor(rows), TensorIndex.Tensor(eos) }).MoveToOuterDisposeScope();
        return new ClipTextOutput(last, pooled, (IReadOnlyList<Tensor>?)hidden ?? Array.Empty<Tensor>());
    }

    /// <summary>
    /// Loads HF-named weights (float tensors are converted to the parameters' dtype). A stored
    /// <see cref="PositionIdsKey"/> buffer is ignored. Throws <see cref="SonicException"/> on any mismatch unless
    /// <paramref name="allowPartial"/>.
    /// </summary>
    public LoadReport LoadWeights(IReadOnlyDictionary<string, Tensor> weights, string source, bool allowPartial = false)
        => LoadWeights(LazyWeights.From(weights), source, allowPartial);

    /// <summary>Like the dictionary overload, one tensor at a time.</summary>
    public LoadReport LoadWeights(LazyWeights weights, string source, bool allowPartial = false)
        => WeightLoader.Load(this, weights.Where(k => k != PositionIdsKey), source, allowPartial);

    /// <summary>
    /// Loads a diffusers <c>text_encoder/</c> folder: config.json plus model.safetensors (or model.fp16.safetensors),
    /// computing in float32.
    /// </summary>
    public static ClipTextModel FromFolder(string dir)
    {
        if (!Directory.Exists(dir)) throw new SonicException($"{dir}: text encoder folder not found");
        var config = ClipTextConfig.FromFile(Path.Combine(dir, "config.json"));
        var file = new[] { "model.safetensors", "model.fp16.safetensors" }.Select(n => Path.Combine(dir, n)).FirstOrDefault(File.Exists)
                   ?? throw new SonicException($"{dir}: text encoder folder has no model.safetensors");
        using var st = SafetensorsFile.Open(file);
        var model = new ClipTextModel(config);
        model.LoadWeights(LazyWeights.From(st), file);
        model.eval();
        return model;
    }
}
