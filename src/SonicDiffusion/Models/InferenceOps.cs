using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>Activations that work in place (saving a full-size copy) when no gradient is being recorded.</summary>
internal static class InferenceOps
{
    /// <summary>SiLU of a tensor the caller owns and no longer needs; in place unless autograd is recording.</summary>
    public static Tensor SiluOwned(Tensor x) => F.silu(x, inplace: !torch.is_grad_enabled());

    /// <summary>
    /// <paramref name="f"/>(<paramref name="h"/>), then <paramref name="h"/> released at once unless it is the caller's
    /// <paramref name="input"/> or the result, so a chain of large activations never holds more than two of them
    /// (autograd keeps what it needs through its own references).
    /// </summary>
    public static Tensor Consume(Tensor h, Tensor input, Func<Tensor, Tensor> f)
    {
        var next = f(h);
        if (!ReferenceEquals(h, input) && !ReferenceEquals(h, next)) h.Dispose();
        return next;
    }
}
