using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>CLAP 2022 <c>Projection</c> head: LayerNorm(e1 + dropout(linear2(gelu(e1)))), e1 = linear1(x); no biases in the linears.</summary>
public sealed class ClapProjection : nn.Module<Tensor, Tensor>
{
    private readonly Linear linear1;
    private readonly Linear linear2;
    private readonly LayerNorm layer_norm;

    public ClapProjection(long dIn, long dOut, double layerNormEps = 1e-5) : base(nameof(ClapProjection))
    {
        linear1 = nn.Linear(dIn, dOut, hasBias: false);
        linear2 = nn.Linear(dOut, dOut, hasBias: false);
        layer_norm = nn.LayerNorm(dOut, eps: layerNormEps);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var e1 = linear1.forward(x);
        var e2 = nn.functional.dropout(linear2.forward(nn.functional.gelu(e1)), 0.5, training);
        return layer_norm.forward(e1 + e2).MoveToOuterDisposeScope();
    }
}
