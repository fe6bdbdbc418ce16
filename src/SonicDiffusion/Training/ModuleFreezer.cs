using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>Turns gradient tracking off (or on) for all parameters of a module, so no grad flows into them.</summary>
public static class ModuleFreezer
{
    /// <summary>Sets requires_grad false on every parameter of <paramref name="module"/>; returns how many were frozen.</summary>
    public static int Freeze(nn.Module module) => Set(module, false);

    public static int Unfreeze(nn.Module module) => Set(module, true);

    /// <summary>Parameters of <paramref name="module"/> that still require grad.</summary>
    public static IReadOnlyList<(string Name, Parameter Parameter)> Trainable(nn.Module module) =>
        module.named_parameters().Where(np => np.parameter.requires_grad).ToList();

    private static int Set(nn.Module module, bool requiresGrad)
    {
        int n = 0;
        foreach (var p in module.parameters())
        {
            p.requires_grad = requiresGrad;
            n++;
        }
        return n;
    }
}
