using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.IO;

/// <summary>What a state-dict load found: keys the module needs but did not get, keys it does not know, and shape clashes.</summary>
public sealed record LoadReport(IReadOnlyList<string> Missing, IReadOnlyList<string> Unexpected, IReadOnlyList<string> WrongShape)
{
    public bool IsComplete => Missing.Count == 0 && Unexpected.Count == 0 && WrongShape.Count == 0;

    public string Describe(int max = 5)
    {
        static string List(IReadOnlyList<string> xs, int max) =>
            string.Join(", ", xs.Take(max)) + (xs.Count > max ? $" and {xs.Count - max} more" : "");
        var parts = new List<string>();
        if (WrongShape.Count > 0) parts.Add($"wrong shape: {List(WrongShape, max)}");
        if (Missing.Count > 0) parts.Add($"missing: {List(Missing, max)}");
        if (Unexpected.Count > 0) parts.Add($"unexpected: {List(Unexpected, max)}");
        return string.Join("; ", parts);
    }
}

/// <summary>Copies named tensors (already in the module's diffusers naming) into a module's parameters and buffers.</summary>
public static class WeightLoader
{
    /// <summary>
    /// Loads <paramref name="weights"/> into <paramref name="module"/>. Values are converted to each parameter's dtype
    /// and device. Unless <paramref name="allowPartial"/>, any missing, unexpected or wrong-shape key throws a
    /// <see cref="SonicException"/> naming <paramref name="source"/> and the keys, and the module is left unchanged.
    /// </summary>
    public static LoadReport Load(nn.Module module, IReadOnlyDictionary<string, Tensor> weights, string source, bool allowPartial = false)
        => Load(module, LazyWeights.From(weights), source, allowPartial);

    /// <summary>
    /// Like the dictionary overload, copying one tensor at a time from <paramref name="weights"/> into the parameters,
    /// so a load from a file holds the model once, plus at most one tensor.
    /// </summary>
    public static LoadReport Load(nn.Module module, LazyWeights weights, string source, bool allowPartial = false)
    {
        var targets = new Dictionary<string, Tensor>();
        foreach (var (name, p) in module.named_parameters()) targets[name] = p;
        foreach (var (name, b) in module.named_buffers()) targets.TryAdd(name, b);

        var missing = targets.Keys.Where(k => !weights.Contains(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var unexpected = weights.Shapes.Keys.Where(k => !targets.ContainsKey(k)).OrderBy(k => k, StringComparer.Ordinal).ToList();
        var wrongShape = new List<string>();
        foreach (var (k, t) in targets)
            if (weights.Shapes.TryGetValue(k, out var shape) && !shape.SequenceEqual(t.shape))
                wrongShape.Add($"{k} [{string.Join(",", shape)}] expected [{string.Join(",", t.shape)}]");
        var report = new LoadReport(missing, unexpected, wrongShape);
        if (!report.IsComplete && !allowPartial)
            throw new SonicException($"{source}: checkpoint does not match the model ({report.Describe()})");

        using (torch.no_grad())
        {
            foreach (var (k, t) in targets)
            {
                if (!weights.Shapes.TryGetValue(k, out var shape) || !shape.SequenceEqual(t.shape)) continue;
                weights.CopyTo(k, t);
            }
        }
        return report;
    }
}
