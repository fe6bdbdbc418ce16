using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using static TorchSharp.torch;

namespace SonicDiffusion.Pipelines;

/// <summary>
/// DDIM inversions on disk, one safetensors file per (image content, fit and input size, model, steps), so one photo can
/// be edited with many sounds without inverting again. Entries hold every latent of the chain (float32).
/// Default folder: <c>$SONIC_CACHE/inversions</c>, else <c>~/.cache/sonicdiffusion/inversions</c>.
/// </summary>
public sealed class InversionCache(string directory)
{
    public string Directory { get; } = Path.GetFullPath(directory);

    public static string DefaultDirectory => UserCache.Folder("inversions");

    /// <summary>The entry key: SHA-256 of the image bytes, the preprocessing, the model fingerprint and the step count.</summary>
    public static string Key(string imagePath, string preprocessing, string modelHash, int steps)
    {
        using var sha = SHA256.Create();
        using (var f = File.OpenRead(imagePath)) sha.ComputeHash(f);
        string image = Convert.ToHexString(sha.Hash!);
        var all = Encoding.UTF8.GetBytes($"{image}|{preprocessing}|{modelHash}|{steps.ToString(CultureInfo.InvariantCulture)}");
        return Convert.ToHexString(SHA256.HashData(all)).ToLowerInvariant()[..32];
    }

    public string PathOf(string key) => Path.Combine(Directory, key + ".safetensors");

    /// <summary>The cached chain (steps + 1 latents, on <paramref name="device"/> in <paramref name="dtype"/>), or null.</summary>
    public IReadOnlyList<Tensor>? TryLoad(string key, int steps, Device device, ScalarType dtype)
    {
        var path = PathOf(key);
        if (!File.Exists(path)) return null;
        try
        {
            using var file = SafetensorsFile.Open(path);
            if (file.Names.Count != steps + 1) return null;
            var list = new List<Tensor>(steps + 1);
            for (int i = 0; i <= steps; i++)
            {
                using var t = file.Read(Name(i), ScalarType.Float32);
                list.Add(t.to(dtype).to(device));
            }
            return list;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or Core.SonicException or KeyNotFoundException)
        {
            return null;
        }
    }

    public void Save(string key, IReadOnlyList<Tensor> latents, IReadOnlyDictionary<string, string> metadata)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var dict = new Dictionary<string, Tensor>();
        try
        {
            for (int i = 0; i < latents.Count; i++) dict[Name(i)] = latents[i].detach().to_type(ScalarType.Float32).cpu().contiguous();
            var path = PathOf(key);
            var tmp = path + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + ".tmp";
            SafetensorsWriter.Write(tmp, dict, metadata);
            File.Move(tmp, path, true);
        }
        finally
        {
            foreach (var t in dict.Values) t.Dispose();
        }
    }

    private static string Name(int i) => $"latent_{i:D4}";
}
