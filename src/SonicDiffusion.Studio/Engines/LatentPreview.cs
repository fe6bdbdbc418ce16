using SonicDiffusion.Imaging;
using SonicDiffusion.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Studio.Engines;

/// <summary>
/// Cheap step previews. Wraps the sampler's denoiser: every <c>every</c> model calls it takes the model's own estimate
/// of the clean latent at that call, x̂₀ = (x_t − √(1−ᾱ_t)·ε̂) / √ᾱ_t (v- and sample-prediction handled too), and maps
/// it to RGB with a fixed linear 4→3 projection that approximates the SD v1 VAE decoder on scaled latents (the widely
/// used "latent RGB factors"), upscaled by nearest neighbour to at least 128 px. No VAE call: a preview costs a few
/// small tensor ops. Colours are a rough likeness of what the decoder will draw, not the final image. With
/// <c>showInput</c> it draws the latent the model is given instead (a DDIM inversion: the source dissolving into noise).
/// </summary>
public sealed class LatentPreview(NoiseSchedule schedule, string predictionType, int every, int totalCalls, Action<int, byte[]> emit,
    bool showInput = false)
{
    // Rows: the four latent channels; columns: R, G, B. Output ≈ decoded pixels in [-1, 1].
    private static readonly float[] RgbFactors =
    [
        0.3512f, 0.2297f, 0.3227f,
        0.3250f, 0.4974f, 0.2350f,
        -0.2829f, 0.1762f, 0.2721f,
        -0.2120f, -0.2616f, -0.7177f,
    ];

    private int _calls;

    public DenoiseFn Wrap(DenoiseFn inner) => (x, t) =>
    {
        var output = inner(x, t);
        _calls++;
        if (every > 0 && _calls % every == 0 && _calls < totalCalls)
        {
            using var scope = torch.NewDisposeScope();
            if (showInput) emit(_calls, EncodePng(x));
            else
            {
                using var x0 = PredictX0(x, output, schedule.AlphaCumprod(t), predictionType);
                emit(_calls, EncodePng(x0));
            }
        }
        return output;
    };

    /// <summary>The clean-latent estimate implied by model output <paramref name="output"/> at latent <paramref name="x"/>.</summary>
    public static Tensor PredictX0(Tensor x, Tensor output, double alphaBar, string predictionType)
    {
        using var scope = torch.NewDisposeScope();
        double a = Math.Sqrt(alphaBar), s = Math.Sqrt(1 - alphaBar);
        var xf = x.to_type(ScalarType.Float32);
        var of = output.to_type(ScalarType.Float32);
        var x0 = predictionType switch
        {
            "v_prediction" => xf.mul(a).sub(of.mul(s)),
            "sample" => of.clone(),
            _ => xf.sub(of.mul(s)).div(a),
        };
        return x0.MoveToOuterDisposeScope();
    }

    /// <summary>Latent [1, C, h, w] → RGB [1, 3, h, w] in [0, 1]: the linear map for 4 channels, the channel mean in grey otherwise.</summary>
    public static Tensor LatentToRgb(Tensor latent)
    {
        using var scope = torch.NewDisposeScope();
        var z = latent.detach().cpu().to_type(ScalarType.Float32);
        Tensor rgb;
        if (z.shape[1] == 4)
        {
            using var m = torch.tensor(RgbFactors, new long[] { 4, 3 });
            rgb = torch.einsum("bchw,cd->bdhw", z, m).add(1).div(2).clamp(0, 1);
        }
        else
        {
            var g = z.mean(new long[] { 1 }, keepdim: true);
            var lo = g.min();
            var span = g.max().sub(lo).clamp_min(1e-6);
            rgb = g.sub(lo).div(span).expand(-1, 3, -1, -1);
        }
        return rgb.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>A preview PNG of latent <paramref name="x0"/>, at least <paramref name="minSide"/> pixels on its short side.</summary>
    public static byte[] EncodePng(Tensor x0, int minSide = 128)
    {
        using var scope = torch.NewDisposeScope();
        var rgb = LatentToRgb(x0);
        long side = Math.Min(rgb.shape[2], rgb.shape[3]);
        long k = Math.Max(1, (minSide + side - 1) / side);
        if (k > 1) rgb = rgb.repeat_interleave(k, 2).repeat_interleave(k, 3);
        return ImageTensor.EncodePng(rgb);
    }
}
