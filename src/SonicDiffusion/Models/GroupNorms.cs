using TorchSharp;
using TorchSharp.Modules;

namespace SonicDiffusion.Models;

/// <summary>
/// GroupNorm construction. TorchSharp 0.107's <c>nn.GroupNorm</c> leaves its affine weight and bias uninitialised
/// (garbage, sometimes NaN), so every GroupNorm here is made through <see cref="Create"/>, which sets weight 1, bias 0
/// as PyTorch does.
/// </summary>
internal static class GroupNorms
{
    public static GroupNorm Create(long groups, long channels, double eps)
    {
        var gn = torch.nn.GroupNorm(groups, channels, eps);
        using (torch.no_grad())
        {
            gn.weight!.fill_(1.0);
            gn.bias!.zero_();
        }
        return gn;
    }
}
