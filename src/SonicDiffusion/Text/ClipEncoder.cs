using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Text;

/// <summary>HF <c>CLIPEncoder</c>: the stack of <see cref="ClipEncoderLayer"/> named <c>layers.N</c>.</summary>
public sealed class ClipEncoder : nn.Module<Tensor, Tensor>
{
    private readonly ModuleList<ClipEncoderLayer> layers;

    public ClipEncoder(ClipTextConfig config, bool causal = true) : base(nameof(ClipEncoder))
    {
        layers = nn.ModuleList(Enumerable.Range(0, config.NumHiddenLayers).Select(_ => new ClipEncoderLayer(config, causal)).ToArray());
        RegisterComponents();
    }

    public int Count => layers.Count;

    public override Tensor forward(Tensor x) => Forward(x, null);

    /// <summary>Runs every layer; when <paramref name="layerOutputs"/> is given, adds each layer's output to it (caller owns them).</summary>
    public Tensor Forward(Tensor x, List<Tensor>? layerOutputs)
    {
        var h = x.alias();
        foreach (var layer in layers)
        {
            var next = layer.forward(h);
            if (layerOutputs != null) layerOutputs.Add(next.alias());
            h.Dispose();
            h = next;
        }
        return h;
    }
}
