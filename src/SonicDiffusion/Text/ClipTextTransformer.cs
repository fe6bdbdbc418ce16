using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Text;

/// <summary>HF <c>CLIPTextTransformer</c>: embeddings → causal encoder → final_layer_norm.</summary>
public sealed class ClipTextTransformer : nn.Module<Tensor, Tensor>
{
    private readonly ClipTextEmbeddings embeddings;
    private readonly ClipEncoder encoder;
    private readonly LayerNorm final_layer_norm;

    public ClipTextTransformer(ClipTextConfig config) : base(nameof(ClipTextTransformer))
    {
        embeddings = new ClipTextEmbeddings(config);
        encoder = new ClipEncoder(config);
        final_layer_norm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor ids) => Forward(ids, null);

    /// <summary>
    /// last_hidden_state [B, T, C]. When <paramref name="hiddenStates"/> is given it receives HF's hidden_states:
    /// the embeddings output, then each encoder layer's output (before the final LayerNorm).
    /// </summary>
    public Tensor Forward(Tensor ids, List<Tensor>? hiddenStates)
    {
        using var scope = torch.NewDisposeScope();
        var h = embeddings.forward(ids);
        var layerOutputs = hiddenStates == null ? null : new List<Tensor> { h.alias() };
        var last = encoder.Forward(h, layerOutputs);
        var result = final_layer_norm.forward(last).MoveToOuterDisposeScope();
        if (hiddenStates != null)
            foreach (var t in layerOutputs!) hiddenStates.Add(t.MoveToOuterDisposeScope());
        return result;
    }
}
