using SonicDiffusion.IO;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests.Infrastructure;

public static class TensorAssert
{
    /// <summary>Same dtype, same shape, same bytes (bit-exact, so fp16/bf16/NaN patterns count too).</summary>
    public static void BitEqual(Tensor expected, Tensor actual, string label)
    {
        Assert.True(expected.dtype == actual.dtype, $"{label}: dtype {actual.dtype}, expected {expected.dtype}");
        Assert.True(expected.shape.SequenceEqual(actual.shape),
            $"{label}: shape [{string.Join(",", actual.shape)}], expected [{string.Join(",", expected.shape)}]");
        using var e = expected.contiguous();
        using var a = actual.contiguous();
        Assert.True(e.bytes.SequenceEqual(a.bytes), $"{label}: values differ");
    }

    /// <summary>Both sources hold the same names, and every tensor reads bit-exact equal.</summary>
    public static void SourcesBitEqual(ITensorSource expected, ITensorSource actual)
    {
        Assert.Equal(expected.Names.Order(StringComparer.Ordinal), actual.Names.Order(StringComparer.Ordinal));
        foreach (var n in expected.Names)
        {
            using var e = expected.Read(n);
            using var a = actual.Read(n);
            var info = actual.Info(n);
            Assert.Equal(SafetensorsFile.FromScalarType(a.dtype), info.DType);
            Assert.Equal(a.shape, info.Shape);
            BitEqual(e, a, $"{actual.Path}:{n}");
        }
    }

    /// <summary>A user-facing error: one line, naming the file.</summary>
    public static void IsOneLineNaming(Exception e, string file, params string[] alsoContains)
    {
        Assert.IsType<SonicDiffusion.Core.SonicException>(e);
        Assert.DoesNotContain('\n', e.Message);
        Assert.DoesNotContain('\r', e.Message);
        Assert.Contains(System.IO.Path.GetFileName(file), e.Message);
        foreach (var s in alsoContains) Assert.Contains(s, e.Message);
    }
}
