using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Text;

/// <summary>HF <c>CLIPMLP</c>: fc2(act(fc1(x))), act = quick_gelu x·sigmoid(1.702x) or erf gelu.</summary>
public sealed class ClipMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1, fc2;
    private readonly bool _quickGelu;

    public ClipMlp(ClipTextConfig config) : base(nameof(ClipMlp))
    {
        _quickGelu = config.HiddenAct == "quick_gelu";
        fc1 = nn.Linear(config.HiddenSize, config.IntermediateSize);
        fc2 = nn.Linear(config.IntermediateSize, config.HiddenSize);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var h = fc1.forward(x);
        h = _quickGelu ? h * torch.sigmoid(h * 1.702) : nn.functional.gelu(h);
        return fc2.forward(h).MoveToOuterDisposeScope();
    }
}
