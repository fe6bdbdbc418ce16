using SonicDiffusion.Core;
using SonicDiffusion.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// The reference sets of AIS and IIS, which the authors did not release (<c>metrics_tensors/*_w2c.pt</c>,
/// <c>*_imgs.pt</c>): <c>audio</c> = Wav2CLIP embeddings of random dataset sounds, <c>images</c> = CLIP ViT-L/14
/// embeddings of random dataset images, chosen by <see cref="Choose"/> from a seed so that a figure can be reproduced.
/// Stored as safetensors with the chosen files and the models in the metadata.
/// </summary>
public sealed class PaperReferenceSet : IDisposable
{
    public Tensor Audio { get; }
    public Tensor Images { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public PaperReferenceSet(Tensor audio, Tensor images, IReadOnlyDictionary<string, string> metadata)
    {
        Audio = audio;
        Images = images;
        Metadata = metadata;
    }

    /// <summary>
    /// Indices of <paramref name="count"/> rows out of <paramref name="total"/>, without repetition: the first
    /// <paramref name="count"/> of a Fisher–Yates shuffle driven by <c>new Random(seed)</c> (stable across .NET versions).
    /// Audio and images are drawn as two independent permutations (seed and seed + 1), as the two sets are separate.
    /// </summary>
    public static int[] Choose(int total, int count, int seed)
    {
        if (count < 1) throw new SonicException($"--count {count}: must be at least 1");
        if (count > total) throw new SonicException($"--count {count}: the manifest has only {total} usable rows");
        var order = Enumerable.Range(0, total).ToArray();
        var rng = new Random(seed);
        for (int i = 0; i < count; i++)
        {
            int j = i + rng.Next(total - i);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order[..count];
    }

    public void Save(string path)
    {
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["audio"] = Audio, ["images"] = Images }, Metadata.ToDictionary());
    }

    public static PaperReferenceSet Load(string path)
    {
        using var st = SafetensorsFile.Open(path);
        foreach (var k in new[] { "audio", "images" })
            if (!st.Contains(k)) throw new SonicException($"{path}: no '{k}' tensor; not a reference set (make one with: sonic eval refs)");
        return new PaperReferenceSet(st.Read("audio", ScalarType.Float32), st.Read("images", ScalarType.Float32), st.Metadata);
    }

    public void Dispose()
    {
        Audio.Dispose();
        Images.Dispose();
    }
}
