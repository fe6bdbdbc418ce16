using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Schedulers;

/// <summary>
/// The training noise schedule: β_t, α_t = 1 − β_t, ᾱ_t = ∏ α_s, computed in float64 (as CompVis
/// <c>register_schedule</c>; diffusers computes in float32, see <see cref="AlphasCumprodFloat32Diffusers"/>).
/// Immutable; tensor accessors return new tensors owned by the caller.
/// </summary>
public sealed class NoiseSchedule
{
    private readonly double[] _betas, _alphas, _alphasCumprod;

    public int NumTrainTimesteps { get; }
    public IReadOnlyList<double> Betas => _betas;
    public IReadOnlyList<double> Alphas => _alphas;
    public IReadOnlyList<double> AlphasCumprod => _alphasCumprod;

    public NoiseSchedule(SchedulerConfig config)
    {
        NumTrainTimesteps = config.NumTrainTimesteps;
        if (NumTrainTimesteps < 2) throw new SonicException($"{config.Source}: num_train_timesteps {NumTrainTimesteps} must be at least 2");
        using (var scope = NewDisposeScope())
        {
            using var betas = BetasTensor(config, ScalarType.Float64);
            _betas = betas.data<double>().ToArray();
            using var ac = (1.0 - betas).cumprod(0);
            _alphasCumprod = ac.data<double>().ToArray();
        }
        _alphas = _betas.Select(b => 1.0 - b).ToArray();
    }

    /// <summary>ᾱ_t for 0 ≤ t &lt; <see cref="NumTrainTimesteps"/>.</summary>
    public double AlphaCumprod(int t)
    {
        if ((uint)t >= (uint)NumTrainTimesteps) throw new ArgumentOutOfRangeException(nameof(t), t, $"timestep must be in [0, {NumTrainTimesteps})");
        return _alphasCumprod[t];
    }

    public Tensor BetasTensor(ScalarType dtype = ScalarType.Float64) => torch.tensor(_betas, dtype: ScalarType.Float64).to_type(dtype);
    public Tensor AlphasCumprodTensor(ScalarType dtype = ScalarType.Float64) => torch.tensor(_alphasCumprod, dtype: ScalarType.Float64).to_type(dtype);

    /// <summary>ᾱ computed the diffusers way: betas and the cumulative product in float32.</summary>
    public static Tensor AlphasCumprodFloat32Diffusers(SchedulerConfig config)
    {
        using var scope = NewDisposeScope();
        var betas = BetasTensor(config, ScalarType.Float32);
        return (1.0f - betas).cumprod(0).MoveToOuterDisposeScope();
    }

    /// <summary>Forward process x_t = √ᾱ_t·x0 + √(1−ᾱ_t)·ε; <paramref name="timesteps"/> is an int64 tensor [B] (or a scalar).</summary>
    public Tensor AddNoise(Tensor x0, Tensor noise, Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        var (sa, s1a) = Coefficients(timesteps, x0);
        return (sa * x0 + s1a * noise).MoveToOuterDisposeScope();
    }

    public Tensor AddNoise(Tensor x0, Tensor noise, int t)
    {
        double a = AlphaCumprod(t);
        using var scope = NewDisposeScope();
        return (x0 * Math.Sqrt(a) + noise * Math.Sqrt(1 - a)).MoveToOuterDisposeScope();
    }

    /// <summary>The v-prediction target v = √ᾱ_t·ε − √(1−ᾱ_t)·x0.</summary>
    public Tensor Velocity(Tensor x0, Tensor noise, Tensor timesteps)
    {
        using var scope = NewDisposeScope();
        var (sa, s1a) = Coefficients(timesteps, x0);
        return (sa * noise - s1a * x0).MoveToOuterDisposeScope();
    }

    private (Tensor Sqrt, Tensor SqrtOneMinus) Coefficients(Tensor timesteps, Tensor like)
    {
        var ac = AlphasCumprodTensor().to(like.device).index_select(0, timesteps.flatten().to(ScalarType.Int64).to(like.device));
        var shape = new long[Math.Max(like.dim(), 1)];
        Array.Fill(shape, 1L);
        shape[0] = -1;
        if (timesteps.numel() == 1) shape[0] = 1;
        var sa = ac.sqrt().to_type(like.dtype).reshape(shape);
        var s1a = (1.0 - ac).sqrt().to_type(like.dtype).reshape(shape);
        return (sa, s1a);
    }

    private static Tensor BetasTensor(SchedulerConfig c, ScalarType dtype)
    {
        int n = c.NumTrainTimesteps;
        if (c.TrainedBetas is { } trained)
        {
            if (trained.Length != n) throw new SonicException($"{c.Source}: trained_betas has {trained.Length} values, num_train_timesteps is {n}");
            return torch.tensor(trained, dtype: ScalarType.Float64).to_type(dtype);
        }
        switch (c.BetaSchedule)
        {
            case "linear":
                return torch.linspace(c.BetaStart, c.BetaEnd, n, dtype: dtype);
            case "scaled_linear":
            {
                using var root = torch.linspace(Math.Sqrt(c.BetaStart), Math.Sqrt(c.BetaEnd), n, dtype: dtype);
                return root.pow(2);
            }
            case "squaredcos_cap_v2":
            {
                static double AlphaBar(double t) => Math.Pow(Math.Cos((t + 0.008) / 1.008 * Math.PI / 2), 2);
                var b = new double[n];
                for (int i = 0; i < n; i++) b[i] = Math.Min(1 - AlphaBar((i + 1) / (double)n) / AlphaBar(i / (double)n), 0.999);
                return torch.tensor(b, dtype: ScalarType.Float64).to_type(dtype);
            }
            default:
                throw new SonicException($"{c.Source}: beta_schedule '{c.BetaSchedule}' is not supported (use linear, scaled_linear or squaredcos_cap_v2)");
        }
    }
}
