using System.Text.Json.Nodes;
using SonicDiffusion.Schedulers;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>
/// The fixtures' toy denoiser eps(x, t) = x_coef·x + t_coef·t in float32 (t = integer DDPM timestep of the call),
/// built from a JSON description. Optionally records a copy of every output and the call timesteps.
/// </summary>
public sealed class ToyEpsModel : IDisposable
{
    public const string Formula = "eps(x, t) = x_coef * x + t_coef * t";
    public double XCoef { get; }
    public double TCoef { get; }
    public List<int> CallTimesteps { get; } = new();
    public List<Tensor> Outputs { get; } = new();
    public bool Record { get; init; }

    public ToyEpsModel(double xCoef, double tCoef) { XCoef = xCoef; TCoef = tCoef; }

    /// <summary>From a fixture's <c>config.eps_model</c>; a different formula or arithmetic is a test failure, not a guess.</summary>
    public static ToyEpsModel FromJson(JsonNode node, bool record = false)
    {
        var o = node.AsObject();
        if (o["formula"] is JsonValue f) Assert.Equal(Formula, (string)f!);
        if (o["arithmetic"] is JsonValue a) Assert.Equal("float32", (string)a!);
        if (o["guidance_scale"] is JsonValue g) Assert.Equal(1.0, (double)g!);
        return new ToyEpsModel((double)o["x_coef"]!, (double)o["t_coef"]!) { Record = record };
    }

    public Tensor Eps(Tensor x, int t)
    {
        var e = x.mul(XCoef).add(TCoef * t);
        CallTimesteps.Add(t);
        if (Record) Outputs.Add(e.clone().DetachFromDisposeScope());
        return e;
    }

    public DenoiseFn Fn => Eps;

    public void Dispose()
    {
        foreach (var t in Outputs) t.Dispose();
        Outputs.Clear();
    }
}
