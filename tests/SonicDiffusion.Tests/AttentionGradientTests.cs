using SonicDiffusion.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>
/// <see cref="Attention"/> trains: its gradients equal those of softmax(q·kᵀ/√d)·v written out by hand, for one head
/// as for several (checked while tracing NaN training losses, which came from oneDNN's convolutions instead; see
/// <see cref="ConvolutionKernelTests"/>).
/// </summary>
public class AttentionGradientTests
{
    [Theory]
    [InlineData(1, 32, 77)]
    [InlineData(1, 32, 256)]
    [InlineData(2, 16, 77)]
    [InlineData(4, 32, 77)]
    public void GradientsMatchTheWrittenOutAttention(int heads, int headDim, int keys)
    {
        using var scope = NewDisposeScope();
        manual_seed(7);
        int width = heads * headDim;
        using var attn = new Attention(width, keys == 256 ? null : 64, heads, headDim);
        var x = randn(8, 256, width);
        var ctx = keys == 256 ? null : randn(8, keys, 64);

        var fused = attn.forward(x, ctx);
        fused.pow(2).mean().backward();
        var fusedGrads = attn.parameters().Select(p => p.grad!.clone()).ToArray();
        attn.zero_grad();

        var src = ctx ?? x;
        Tensor Split(Tensor t) => t.reshape(t.shape[0], t.shape[1], heads, headDim).permute(0, 2, 1, 3);
        var q = Split(attn.to_q.forward(x));
        var k = Split(attn.to_k.forward(src));
        var v = Split(attn.to_v.forward(src));
        var w = q.matmul(k.transpose(-1, -2)).div(Math.Sqrt(headDim)).softmax(-1);
        var o = w.matmul(v).permute(0, 2, 1, 3).reshape(8, 256, width);
        var manual = attn.to_out[0].forward(o);
        manual.pow(2).mean().backward();
        var manualGrads = attn.parameters().Select(p => p.grad!).ToArray();

        Assert.True(fused.allclose(manual, rtol: 1e-4, atol: 1e-5), "forward differs");
        for (int i = 0; i < fusedGrads.Length; i++)
        {
            Assert.True(fusedGrads[i].isfinite().all().item<bool>(), $"parameter {i}: non-finite gradient");
            double err = (fusedGrads[i] - manualGrads[i]).abs().max().item<float>();
            double size = manualGrads[i].abs().max().item<float>();
            Assert.True(err <= 1e-3 * size + 1e-7, $"parameter {i}: gradient differs by {err:g3} (largest {size:g3})");
        }
    }
}
