using SonicDiffusion.Core;
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
    /// <summary>
    /// Runs <paramref name="forward"/> once under inference mode, checking every Conv2d of <paramref name="model"/>;
    /// <paramref name="progress"/> hears of each convolution call (stage <paramref name="modelName"/>, total = the model's
    /// convolutions).
    /// </summary>
    public static List<ConvolutionCheckResult> Run(string modelName, nn.Module model, Action forward, IProgress<ProgressInfo>? progress = null)
    {
        var results = new List<ConvolutionCheckResult>();
        var seen = new HashSet<string>();
        var removers = new List<Action>();
        var convolutions = model.named_modules().Where(m => m.module is Conv2d).ToList();
        int calls = 0;
        bool rerun = false;
        try
        {
            foreach (var (name, module) in convolutions)
            {
                var conv = (Conv2d)module;
                var remover = conv.register_forward_hook((_, input, output) =>
                {
                    if (rerun) return output;
                    if (calls < convolutions.Count) progress?.Report(new ProgressInfo(modelName, ++calls, convolutions.Count, name));
                    var w = conv.weight!;
                    string shape = $"{w.shape[1] * conv.groups}→{w.shape[0]} k{w.shape[2]}×{w.shape[3]} s{conv.stride![0]} on {string.Join("×", input.shape.Skip(2))} (batch {input.shape[0]}, {input.dtype})";
                    if (!seen.Add(shape)) return output;
                    using var scope = NewDisposeScope();
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    rerun = true;
                    Tensor again;
                    try { again = conv.call(input); }
                    finally { rerun = false; }
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
            progress?.Report(new ProgressInfo(modelName, convolutions.Count, convolutions.Count));
        }
        finally
        {
            foreach (var remove in removers) remove();
        }
        return results;
    }
}
