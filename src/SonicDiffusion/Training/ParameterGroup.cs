using SonicDiffusion.Core;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// Named trainable parameters optimised with one learning rate and weight decay (null = the run's
/// <see cref="TrainingConfig.LearningRate"/> / <see cref="TrainingConfig.WeightDecay"/>). Parameter names are the keys
/// of the checkpoint files, so they must be unique across all groups of a task.
/// </summary>
public sealed record ParameterGroup(string Name, IReadOnlyList<(string Name, Parameter Parameter)> Parameters, double? LearningRate = null, double? WeightDecay = null)
{
    /// <summary>
    /// The parameters of <paramref name="module"/> that require grad (frozen ones are skipped), named
    /// <paramref name="prefix"/> + the module's own parameter name.
    /// </summary>
    public static ParameterGroup FromModule(string name, nn.Module module, string prefix = "", double? learningRate = null, double? weightDecay = null)
    {
        var ps = module.named_parameters().Where(np => np.parameter.requires_grad)
            .Select(np => (prefix + np.name, np.parameter)).ToList();
        return new ParameterGroup(name, ps, learningRate, weightDecay);
    }

    internal double Lr(TrainingConfig c) => LearningRate ?? c.LearningRate;
    internal double Wd(TrainingConfig c) => WeightDecay ?? c.WeightDecay;

    /// <summary>Checks names are unique and every parameter requires grad; throws a <see cref="SonicException"/> otherwise.</summary>
    public static void Validate(IReadOnlyList<ParameterGroup> groups)
    {
        if (groups.Count == 0) throw new SonicException("training task: no parameter groups");
        var groupNames = new HashSet<string>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var g in groups)
        {
            if (!groupNames.Add(g.Name)) throw new SonicException($"training task: parameter group '{g.Name}' appears twice");
            if (g.LearningRate is { } lr && (lr < 0 || double.IsNaN(lr))) throw new SonicException($"training task: parameter group '{g.Name}' has learning rate {lr}");
            if (g.WeightDecay is { } wd && (wd < 0 || double.IsNaN(wd))) throw new SonicException($"training task: parameter group '{g.Name}' has weight decay {wd}");
            foreach (var (n, p) in g.Parameters)
            {
                if (!names.Add(n)) throw new SonicException($"training task: parameter '{n}' is listed twice (group '{g.Name}')");
                if (!p.requires_grad) throw new SonicException($"training task: parameter '{n}' in group '{g.Name}' is frozen (requires_grad false)");
                if (!p.is_floating_point()) throw new SonicException($"training task: parameter '{n}' in group '{g.Name}' is not floating point ({p.dtype})");
            }
        }
    }
}
