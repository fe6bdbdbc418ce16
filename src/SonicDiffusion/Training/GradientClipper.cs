using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>Global L2 gradient norm and clipping, computed as torch.nn.utils.clip_grad_norm_ does.</summary>
public static class GradientClipper
{
    /// <summary>
    /// Returns the global L2 norm of the grads of <paramref name="parameters"/> (those without grad are ignored) and,
    /// when <paramref name="maxNorm"/> is given, scales every grad by min(1, max_norm / (norm + 1e-6)).
    /// </summary>
    public static double ClipGlobalNorm(IEnumerable<Parameter> parameters, double? maxNorm)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var grads = parameters.Select(p => p.grad).OfType<Tensor>().ToList();
        if (grads.Count == 0) return 0.0;
        var total = torch.stack(grads.Select(g => g.norm().to_type(ScalarType.Float32)).ToArray()).norm();
        if (maxNorm is { } m)
        {
            // Explicit Scalars held to the end of the block: an implicit temporary (e.g. the alpha of `total + 1e-6`)
            // can be finalized by the GC while libtorch still reads it (seen as a rare "toFloat: Expected false" error).
            using var eps = 1e-6.ToScalar();
            using var one = 1.0.ToScalar();
            using var max = m.ToScalar();
            var coef = total.add(eps, one).reciprocal().mul(max).clamp(null, one);
            foreach (var g in grads) g.mul_(coef);
        }
        return total.item<float>();
    }
}
