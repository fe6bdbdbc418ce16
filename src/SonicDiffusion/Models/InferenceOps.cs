using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>Activations that work in place (saving a full-size copy) when no gradient is being recorded.</summary>
internal static class InferenceOps
{
    /// <summary>SiLU of a tensor the caller owns and no longer needs; in place unless autograd is recording.</summary>
    public static Tensor SiluOwned(Tensor x) => F.silu(x, inplace: !torch.is_grad_enabled());
}
