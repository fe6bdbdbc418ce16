using SonicDiffusion.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// Exponential moving average of trainable parameters: after each optimizer update,
/// shadow = d·shadow + (1 − d)·param. With warm-up the decay of update n (0-based) is min(max_decay, (1 + n) / (10 + n)),
/// as diffusers' EMAModel without its power warm-up; without warm-up it is max_decay throughout.
/// <see cref="SwapIn"/> puts the averaged weights into the model for evaluation or export and puts the trained
/// weights back when disposed.
/// </summary>
public sealed class EmaModel : IDisposable
{
    private readonly List<(string Name, Parameter Param, Tensor Shadow)> _items = [];
    private bool _swapped;

    public double MaxDecay { get; }
    public bool Warmup { get; }
    /// <summary>Number of <see cref="Update"/> calls so far.</summary>
    public long Updates { get; private set; }

    public EmaModel(IEnumerable<(string Name, Parameter Parameter)> parameters, double maxDecay, bool warmup = true)
    {
        if (maxDecay is < 0 or > 1 || double.IsNaN(maxDecay)) throw new SonicException($"EMA: decay {maxDecay} must be in [0, 1]");
        MaxDecay = maxDecay;
        Warmup = warmup;
        using var noGrad = torch.no_grad();
        foreach (var (n, p) in parameters)
            _items.Add((n, p, p.detach().clone().DetachFromDisposeScope()));
    }

    /// <summary>The decay used by update number <paramref name="update"/> (0-based).</summary>
    public static double DecayAt(long update, double maxDecay, bool warmup) =>
        warmup ? Math.Min(maxDecay, (1.0 + update) / (10.0 + update)) : maxDecay;

    public IEnumerable<string> Names => _items.Select(i => i.Name);

    public void Update()
    {
        if (_swapped) throw new InvalidOperationException("EMA: Update called while the EMA weights are swapped in");
        double d = DecayAt(Updates, MaxDecay, Warmup);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        foreach (var (_, p, s) in _items)
            s.mul_(d).add_(p, alpha: 1 - d);
        Updates++;
    }

    /// <summary>Copies the averaged weights into the parameters until the returned handle is disposed.</summary>
    public IDisposable SwapIn()
    {
        if (_swapped) throw new InvalidOperationException("EMA: weights are already swapped in");
        var backup = new List<Tensor>(_items.Count);
        using (torch.no_grad())
            foreach (var (_, p, s) in _items)
            {
                backup.Add(p.detach().clone().DetachFromDisposeScope());
                p.copy_(s);
            }
        _swapped = true;
        return new Restore(this, backup);
    }

    private sealed class Restore(EmaModel owner, List<Tensor> backup) : IDisposable
    {
        private bool _done;
        public void Dispose()
        {
            if (_done) return;
            _done = true;
            using (torch.no_grad())
                for (int i = 0; i < backup.Count; i++)
                {
                    owner._items[i].Param.copy_(backup[i]);
                    backup[i].Dispose();
                }
            owner._swapped = false;
        }
    }

    /// <summary>Permanently copies the averaged weights into the parameters (e.g. before a final export).</summary>
    public void CopyToParameters()
    {
        using var noGrad = torch.no_grad();
        foreach (var (_, p, s) in _items) p.copy_(s);
    }

    /// <summary>The shadow weights by parameter name (owned by this object; do not dispose).</summary>
    public IEnumerable<(string Name, Tensor Tensor)> StateTensors() => _items.Select(i => (i.Name, i.Shadow));

    public void LoadState(Func<string, Tensor?> read, long updates, string source)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        foreach (var (n, _, s) in _items) AdamWOptimizer.CopyChecked(read, n, s, source);
        Updates = updates;
    }

    public void Dispose()
    {
        foreach (var i in _items) i.Shadow.Dispose();
        _items.Clear();
    }
}
