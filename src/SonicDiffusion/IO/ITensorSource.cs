using static TorchSharp.torch;

namespace SonicDiffusion.IO;

/// <summary>Stored dtype (safetensors spelling: F32, F16, BF16, I64 ...) and shape of one tensor in a file.</summary>
public sealed record TensorInfo(string DType, long[] Shape)
{
    public long NumElements => Shape.Aggregate(1L, (a, b) => a * b);
    public bool IsFloat => DType is "F64" or "F32" or "F16" or "BF16";
}

/// <summary>A file of named tensors read lazily: safetensors or a PyTorch zip checkpoint.</summary>
public interface ITensorSource : IDisposable
{
    string Path { get; }
    IReadOnlyList<string> Names { get; }
    TensorInfo Info(string name);
    /// <summary>Reads one tensor to CPU; floating-point tensors are converted to <paramref name="floatDtype"/> when given.</summary>
    Tensor Read(string name, ScalarType? floatDtype = null);

    /// <summary>
    /// Copies one tensor into <paramref name="destination"/> (same number of elements, any shape and dtype), without a
    /// second full-size copy where the file allows it.
    /// </summary>
    void CopyTo(string name, Tensor destination)
    {
        using var t = Read(name);
        using var v = t.reshape(destination.shape);
        destination.copy_(v);
    }
}
