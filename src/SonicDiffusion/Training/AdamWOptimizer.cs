using SonicDiffusion.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// AdamW (decoupled weight decay) with its state held as plain tensors, so a checkpoint can store and restore it
/// exactly. The update is the same sequence of tensor operations as TorchSharp's <c>torch.optim.AdamW</c>
/// (amsgrad off), hence bit-identical to it. State is created eagerly (zeros, step 0), which is what torch does lazily
/// at the first update. A parameter whose grad is null is skipped and its step count does not advance.
/// </summary>
public sealed class AdamWOptimizer : IDisposable
{
    private sealed class State(Tensor expAvg, Tensor expAvgSq)
    {
        public long Step;
        public readonly Tensor ExpAvg = expAvg;
        public readonly Tensor ExpAvgSq = expAvgSq;
    }

    private readonly List<(ParameterGroup Group, double Lr, double Wd)> _groups = [];
    private readonly Dictionary<string, State> _state = new(StringComparer.Ordinal);

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public IReadOnlyList<ParameterGroup> Groups => _groups.Select(g => g.Group).ToList();

    /// <param name="groups">Groups with their base learning rate and weight decay resolved (see <see cref="ParameterGroup"/>).</param>
    public AdamWOptimizer(IEnumerable<(ParameterGroup Group, double LearningRate, double WeightDecay)> groups, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        if (beta1 is < 0 or >= 1) throw new SonicException($"AdamW: beta1 {beta1} must be in [0, 1)");
        if (beta2 is < 0 or >= 1) throw new SonicException($"AdamW: beta2 {beta2} must be in [0, 1)");
        if (eps < 0) throw new SonicException($"AdamW: eps {eps} must be >= 0");
        Beta1 = beta1; Beta2 = beta2; Eps = eps;
        foreach (var (g, lr, wd) in groups)
        {
            _groups.Add((g, lr, wd));
            foreach (var (name, p) in g.Parameters)
            {
                if (_state.ContainsKey(name)) throw new SonicException($"AdamW: parameter '{name}' is in two groups");
                _state[name] = new State(torch.zeros_like(p).DetachFromDisposeScope(), torch.zeros_like(p).DetachFromDisposeScope());
            }
        }
    }

    /// <summary>Base learning rate of the group (before the schedule factor).</summary>
    public double BaseLearningRate(string group) => _groups.First(g => g.Group.Name == group).Lr;

    public long StepCount(string parameter) => _state[parameter].Step;

    /// <summary>One update of every parameter that has a grad; each group's lr is its base lr × <paramref name="lrFactor"/>.</summary>
    public void Step(double lrFactor)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        foreach (var (g, baseLr, wd) in _groups)
        {
            double lr = baseLr * lrFactor;
            foreach (var (name, p) in g.Parameters)
            {
                var grad = p.grad;
                if (grad is null) continue;
                var s = _state[name];
                s.Step += 1;
                p.mul_(1 - lr * wd);
                double bc1 = 1 - Math.Pow(Beta1, s.Step);
                double bc2 = 1 - Math.Pow(Beta2, s.Step);
                s.ExpAvg.mul_(Beta1).add_(grad, alpha: 1 - Beta1);
                s.ExpAvgSq.mul_(Beta2).addcmul_(grad, grad, value: 1 - Beta2);
                var denom = (s.ExpAvgSq.sqrt() / Math.Sqrt(bc2)).add_(Eps);
                p.addcdiv_(s.ExpAvg, denom, value: -(lr / bc1));
            }
        }
    }

    /// <summary>Drops every grad (set to none), like torch's zero_grad(set_to_none: true).</summary>
    public void ZeroGrad()
    {
        foreach (var (g, _, _) in _groups)
            foreach (var (_, p) in g.Parameters)
                p.grad = null!;
    }

    /// <summary>The state as named tensors: "{param}.exp_avg", "{param}.exp_avg_sq" and "{param}.step" (int64 scalar). The caller disposes the step scalars.</summary>
    public IEnumerable<(string Name, Tensor Tensor)> StateTensors()
    {
        foreach (var (name, s) in _state)
        {
            yield return (name + ".exp_avg", s.ExpAvg);
            yield return (name + ".exp_avg_sq", s.ExpAvgSq);
            yield return (name + ".step", torch.tensor(s.Step));
        }
    }

    /// <summary>Restores the state written by <see cref="StateTensors"/>; every key must be present with the right shape.</summary>
    public void LoadState(Func<string, Tensor?> read, string source)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        foreach (var (name, s) in _state)
        {
            var step = read(name + ".step") ?? throw new SonicException($"{source}: optimizer state for '{name}' is missing");
            if (step.dtype != ScalarType.Int64 || step.numel() != 1) throw new SonicException($"{source}: '{name}.step' is not an int64 scalar");
            CopyChecked(read, name + ".exp_avg", s.ExpAvg, source);
            CopyChecked(read, name + ".exp_avg_sq", s.ExpAvgSq, source);
            s.Step = step.item<long>();
        }
    }

    internal static void CopyChecked(Func<string, Tensor?> read, string key, Tensor target, string source)
    {
        var t = read(key) ?? throw new SonicException($"{source}: tensor '{key}' is missing");
        if (!t.shape.SequenceEqual(target.shape))
            throw new SonicException($"{source}: tensor '{key}' has shape [{string.Join(",", t.shape)}], expected [{string.Join(",", target.shape)}]");
        if (t.dtype != target.dtype)
            throw new SonicException($"{source}: tensor '{key}' has dtype {t.dtype}, expected {target.dtype}");
        target.copy_(t);
    }

    public void Dispose()
    {
        foreach (var s in _state.Values) { s.ExpAvg.Dispose(); s.ExpAvgSq.Dispose(); }
        _state.Clear();
    }
}
