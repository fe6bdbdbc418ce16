using SonicDiffusion.Core;
using static TorchSharp.torch;

namespace SonicDiffusion.IO;

/// <summary>Writes a dict of named tensors in the format its file name asks for: safetensors or a <c>torch.save</c> zip.</summary>
public static class TensorFileWriter
{
    /// <summary>
    /// <c>.safetensors</c> → <see cref="SafetensorsWriter"/>; <c>.pt</c>, <c>.pth</c>, <c>.ckpt</c>, <c>.bin</c> →
    /// <see cref="TorchZipWriter"/> (what the released SonicDiffusion checkpoints are). Anything else is refused.
    /// </summary>
    public static void Write(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        switch (Path.GetExtension(path).ToLowerInvariant())
        {
            case ".safetensors":
                SafetensorsWriter.Write(path, tensors, metadata);
                break;
            case ".pt" or ".pth" or ".ckpt" or ".bin":
                TorchZipWriter.Write(path, tensors);
                break;
            default:
                throw new SonicException($"{path}: unknown tensor file extension (use .safetensors, or .pt/.pth for a PyTorch checkpoint)");
        }
    }
}
