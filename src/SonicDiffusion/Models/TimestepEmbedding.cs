using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// diffusers <c>TimestepEmbedding</c>: <c>linear_2(SiLU(linear_1(t_emb)))</c>, plus the parameter-free sinusoidal
/// projection <see cref="Sinusoid"/> (diffusers <c>Timesteps</c> / CompVis <c>timestep_embedding</c>).
/// </summary>
public sealed class TimestepEmbedding : nn.Module<Tensor, Tensor>
{
    public readonly Linear linear_1;
    public readonly Linear linear_2;

    public TimestepEmbedding(long inChannels, long timeEmbedDim) : base(nameof(TimestepEmbedding))
    {
        linear_1 = nn.Linear(inChannels, timeEmbedDim);
        linear_2 = nn.Linear(timeEmbedDim, timeEmbedDim);
        RegisterComponents();
    }

    public override Tensor forward(Tensor tEmb)
    {
        using var h = linear_1.forward(tEmb);
        using var a = InferenceOps.SiluOwned(h);
        return linear_2.forward(a);
    }

    /// <summary>
    /// Sinusoidal embedding [B, dim] of timesteps [B] (any numeric dtype), computed in float32:
    /// freqs = exp(−ln(10000)·arange(half)/(half − shift)), args = t·freqs, output [cos, sin] when
    /// <paramref name="flipSinToCos"/> (SD v1) else [sin, cos]; an odd dim gets a zero last column.
    /// </summary>
    public static Tensor Sinusoid(Tensor timesteps, int dim, bool flipSinToCos = true, double downscaleFreqShift = 0)
    {
        using var scope = torch.NewDisposeScope();
        int half = dim / 2;
        var exponent = torch.arange(0, half, dtype: ScalarType.Float32, device: timesteps.device).mul_(-Math.Log(10000.0));
        exponent = exponent.div_(half - downscaleFreqShift);
        var freqs = exponent.exp();
        var args = timesteps.to_type(ScalarType.Float32).unsqueeze(1) * freqs.unsqueeze(0);
        var sin = args.sin();
        var cos = args.cos();
        var emb = flipSinToCos ? torch.cat(new[] { cos, sin }, 1) : torch.cat(new[] { sin, cos }, 1);
        if (dim % 2 == 1) emb = torch.nn.functional.pad(emb, new long[] { 0, 1 });
        return emb.MoveToOuterDisposeScope();
    }
}
