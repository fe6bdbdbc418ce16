using System.Security.Cryptography;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// SHA-256 of each tensor's raw bytes (plus dtype and shape), to check that weights are unchanged to the bit without
/// keeping a copy of them (e.g. the frozen UNet while adapters train).
/// </summary>
public static class WeightFingerprint
{
    public static string Of(Tensor t)
    {
        using var scope = torch.NewDisposeScope();
        var c = t.detach().cpu().contiguous();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(System.Text.Encoding.ASCII.GetBytes($"{c.dtype}[{string.Join(",", c.shape)}]"));
        sha.AppendData(c.bytes);
        return Convert.ToHexString(sha.GetHashAndReset());
    }

    /// <summary>Fingerprints of every parameter and buffer of <paramref name="module"/>, by name.</summary>
    public static Dictionary<string, string> Of(nn.Module module)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (n, p) in module.named_parameters()) d[n] = Of(p);
        foreach (var (n, b) in module.named_buffers()) d.TryAdd(n, Of(b));
        return d;
    }

    /// <summary>Names whose fingerprint differs from (or is absent in) <paramref name="before"/>.</summary>
    public static IReadOnlyList<string> Changed(IReadOnlyDictionary<string, string> before, IReadOnlyDictionary<string, string> after) =>
        after.Where(kv => !before.TryGetValue(kv.Key, out var b) || b != kv.Value).Select(kv => kv.Key)
            .Concat(before.Keys.Where(k => !after.ContainsKey(k))).OrderBy(k => k, StringComparer.Ordinal).ToList();
}
