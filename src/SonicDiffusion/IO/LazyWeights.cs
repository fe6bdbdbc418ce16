using static TorchSharp.torch;

namespace SonicDiffusion.IO;

/// <summary>
/// Named tensors in a module's internal naming whose values are copied into their destinations one at a time, so a
/// load never holds a second full copy of the model: from a file (through a name map) or from tensors in memory.
/// </summary>
public sealed class LazyWeights
{
    private readonly Action<string, Tensor> _copyTo;

    /// <param name="shapes">Shape of every tensor, in internal naming.</param>
    /// <param name="copyTo">Copies the named tensor's values into a destination of its shape (any dtype).</param>
    public LazyWeights(IReadOnlyDictionary<string, long[]> shapes, Action<string, Tensor> copyTo)
    {
        Shapes = shapes;
        _copyTo = copyTo;
    }

    public IReadOnlyDictionary<string, long[]> Shapes { get; }

    public bool Contains(string name) => Shapes.ContainsKey(name);

    /// <summary>Copies the named tensor into <paramref name="destination"/>, converting its dtype.</summary>
    public void CopyTo(string name, Tensor destination) => _copyTo(name, destination);

    /// <summary>Only the tensors whose names pass <paramref name="keep"/>.</summary>
    public LazyWeights Where(Func<string, bool> keep) =>
        new(Shapes.Where(kv => keep(kv.Key)).ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal), _copyTo);

    /// <summary>Tensors already in memory (shared, not copied until <see cref="CopyTo"/>).</summary>
    public static LazyWeights From(IReadOnlyDictionary<string, Tensor> tensors) =>
        new(tensors.ToDictionary(kv => kv.Key, kv => kv.Value.shape, StringComparer.Ordinal), (name, dst) => dst.copy_(tensors[name]));

    /// <summary>Every tensor of a file under its own name.</summary>
    public static LazyWeights From(ITensorSource file) =>
        new(file.Names.ToDictionary(n => n, n => file.Info(n).Shape, StringComparer.Ordinal), file.CopyTo);
}
