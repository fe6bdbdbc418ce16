using System.Globalization;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// Per-file embeddings of the paper protocol's evaluation models, kept between runs: one small safetensors file per
/// (model, input file, variant) under <c>&lt;dir&gt;/&lt;model key&gt;/</c>. Keys are the training caches' keys: the model's
/// weights by content (<see cref="CacheKey.AddFileContents"/>; a folder model by all its files), the input file by
/// path, size and modification time, and a variant string for whatever else the embedding depends on (input size,
/// Wav2CLIP's batch standardisation). A changed image or new weights give new keys; a damaged entry is computed again.
/// </summary>
public sealed class EmbeddingCache(string directory)
{
    public const string Format = "sonic-embedding-cache/1";

    private readonly Dictionary<string, string> _modelKeys = new(StringComparer.Ordinal);

    public string Directory { get; } = Path.GetFullPath(directory);
    /// <summary>Embeddings read from the cache / computed (and stored) since this instance was made.</summary>
    public int Hits { get; private set; }
    public int Misses { get; private set; }

    /// <summary>The content key of a model file or folder (computed once per instance).</summary>
    public string ModelKey(string source)
    {
        if (_modelKeys.TryGetValue(source, out var k)) return k;
        var key = new CacheKey().Add(Format);
        if (System.IO.Directory.Exists(source))
            foreach (var f in System.IO.Directory.GetFiles(source).Order(StringComparer.Ordinal)) key.AddFileContents(f);
        else if (File.Exists(source)) key.AddFileContents(source);
        else throw new SonicException($"{source}: model file not found (embedding cache key)");
        return _modelKeys[source] = key.Finish();
    }

    /// <summary>The embedding of <paramref name="file"/> under <paramref name="modelSource"/> and <paramref name="variant"/>: from the cache, else <paramref name="compute"/>() (stored).</summary>
    public Tensor GetOrCompute(string modelSource, string variant, string file, Func<Tensor> compute)
    {
        string modelKey = ModelKey(modelSource);
        string full = Path.GetFullPath(file);
        string key = new CacheKey().Add(modelKey).Add(variant).AddFileStamp(full, full).Finish();
        string path = Path.Combine(Directory, modelKey[..16], key[..32] + ".safetensors");
        if (File.Exists(path))
        {
            try
            {
                using var f = SafetensorsFile.Open(path);
                if (f.Metadata.TryGetValue("key", out var stored) && stored == key)
                {
                    Hits++;
                    return f.Read("embedding");
                }
            }
            catch (SonicException) { }
        }
        var value = compute();
        Misses++;
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string tmp = path + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + ".tmp";
        using (var cpu = value.detach().cpu().contiguous())
            SafetensorsWriter.Write(tmp, new Dictionary<string, Tensor> { ["embedding"] = cpu }, new Dictionary<string, string>
            {
                ["format"] = Format, ["key"] = key, ["model"] = modelSource, ["variant"] = variant, ["file"] = full,
            });
        File.Move(tmp, path, overwrite: true);
        return value;
    }
}
