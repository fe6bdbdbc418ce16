using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>GEGLU: <c>proj</c> maps to 2·inner; the first half is the value, the second the gate: value·GELU(gate), exact erf GELU.</summary>
public sealed class GEGLU : nn.Module<Tensor, Tensor>
{
    public readonly Linear proj;

    public GEGLU(long dimIn, long dimOut) : base(nameof(GEGLU))
    {
        proj = nn.Linear(dimIn, dimOut * 2);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var h = proj.forward(x);
        var parts = h.chunk(2, -1);
        using var value = parts[0];
        using var gate = parts[1];
        using var g = F.gelu(gate);
        return value * g;
    }
}
