using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Diagnostics;

/// <summary>One convolution of a model checked against float64: its shape, worst error and time.</summary>
public sealed record ConvolutionCheckResult(string Model, string Layer, string Shape, double MaxError, double Scale, bool Finite, double Milliseconds)
{
    /// <summary>Worst absolute error over the largest float64 output magnitude.</summary>
    public double RelativeError => Scale > 0 ? MaxError / Scale : MaxError;
}

/// <summary>
/// Checks the convolution kernels libtorch runs in this process (oneDNN under its instruction-set cap, or ATen's own)
/// at the real layer shapes of a model: during one forward pass every convolution with a shape not seen before is
/// recomputed in float64 (ATen's reference kernels) from the very input and weights it was given, so each layer is
/// judged on its own even when a wrong layer before it fed it wrong values.
/// </summary>
public static class ConvolutionCheck
{
    /// <summary>Runs <paramref name="forward"/> once under inference mode, checking every Conv2d of <paramref name="model"/>.</summary>
    public static List<ConvolutionCheckResult> Run(string modelName, nn.Module model, Action forward)
    {
        var results = new List<ConvolutionCheckResult>();
        var seen = new HashSet<string>();
        var removers = new List<Action>();
        try
        {
            foreach (var (name, module) in model.named_modules())
            {
                if (module is not Conv2d conv) continue;
                var remover = conv.register_forward_hook((_, input, output) =>
                {
                    var w = conv.weight!;
                    string shape = $"{w.shape[1] * conv.groups}→{w.shape[0]} k{w.shape[2]}×{w.shape[3]} s{conv.stride![0]} on {string.Join("×", input.shape.Skip(2))} (batch {input.shape[0]}, {input.dtype})";
                    if (!seen.Add(shape)) return output;
                    using var scope = NewDisposeScope();
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    var again = conv.call(input);
                    double ms = sw.Elapsed.TotalMilliseconds;
                    var expected = nn.functional.conv2d(input.to(ScalarType.Float64), w.to(ScalarType.Float64), conv.bias?.to(ScalarType.Float64),
                        strides: conv.stride, padding: conv.padding, dilation: conv.dilation, groups: conv.groups);
                    var actual = output.to(ScalarType.Float64);
                    bool finite = actual.isfinite().all().item<bool>() && again.isfinite().all().item<bool>();
                    double err = finite ? Math.Max((actual - expected).abs().max().item<double>(), (again.to(ScalarType.Float64) - expected).abs().max().item<double>()) : double.PositiveInfinity;
                    results.Add(new ConvolutionCheckResult(modelName, name, shape, err, expected.abs().max().item<double>(), finite, ms));
                    return output;
                });
                removers.Add(remover.remove);
            }
            using var mode = inference_mode();
            using var outer = NewDisposeScope();
            forward();
        }
        finally
        {
            foreach (var remove in removers) remove();
        }
        return results;
    }
}
