using System.Text.Json.Nodes;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests.Infrastructure;

/// <summary>Reads a fixture's weights entries (safetensors) as float32 tensors under their stored names.</summary>
public static class FixtureWeights
{
    /// <summary>
    /// The weights entries a test must run: every safetensors entry. Entries in another container must declare
    /// <c>same_as</c> a safetensors entry (their equality is the container reader's test); anything else fails.
    /// </summary>
    public static IReadOnlyList<JsonObject> SafetensorsEntries(GoldenFixture fx)
    {
        var all = fx.Weights.Select(w => w!.AsObject()).ToList();
        var st = all.Where(w => (string?)w["format"] == "safetensors").ToList();
        foreach (var w in all.Except(st))
            Assert.True(w["same_as"] is JsonValue s && st.Any(x => (string?)x["file"] == (string?)s),
                $"{fx.Name}: weights '{w["file"]}' has format '{w["format"]}' and no safetensors copy");
        Assert.NotEmpty(st);
        return st;
    }

    /// <summary>All tensors of <paramref name="entry"/>, floating-point ones up-cast to float32; checks naming and key prefix.</summary>
    public static Dictionary<string, Tensor> ReadFloat32(GoldenFixture fx, JsonObject entry, string expectedNaming)
    {
        Assert.Equal(expectedNaming, (string?)entry["naming"]);
        string prefix = (string?)entry["key_prefix"] ?? "";
        var file = fx.Tensors((string)entry["file"]!);
        Assert.All(file.Names, n => Assert.StartsWith(prefix, n, StringComparison.Ordinal));
        return file.ReadAll(ScalarType.Float32);
    }

    public static void DisposeAll(IEnumerable<Tensor> tensors)
    {
        foreach (var t in tensors) t.Dispose();
    }
}
