using SonicDiffusion.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>
/// Test double of the gated audio cross-attention, written against the block-extension seam only:
/// h + (Attn_adapter(LN_adapter(h), audio) · tanh(gate_adapter)) · β, skipped without audio.
/// </summary>
internal sealed class TestGatedAdapter(long audioContextDim) : ITransformerBlockExtension
{
    public Attention? Attn { get; private set; }
    public LayerNorm? Norm { get; private set; }
    public Parameter? Gate { get; private set; }

    public void Attach(BasicTransformerBlock block)
    {
        Attn = new Attention(block.Dim, audioContextDim, block.Heads, block.HeadDim);
        Norm = nn.LayerNorm(block.Dim, 1e-5);
        Gate = new Parameter(tensor(new float[] { 0.1f }));
        block.AddChild("attn_adapter", Attn);
        block.AddChild("norm_adapter", Norm);
        block.AddParameter("gate_adapter", Gate);
    }

    public Tensor Forward(BasicTransformerBlock block, Tensor hiddenStates, Tensor encoderHiddenStates, UNetCallContext? context)
    {
        if (context?.AudioContext is not { } audio) return hiddenStates;
        using var normed = Norm!.forward(hiddenStates);
        using var a = Attn!.forward(normed, audio, context);
        using var gate = Gate!.tanh();
        using var gated = a * gate;
        using var scaled = gated * context.AudioScale;
        return scaled + hiddenStates;
    }
}
