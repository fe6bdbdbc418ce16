using System.Buffers.Binary;
using SonicDiffusion.Core;

namespace SonicDiffusion.IO;

/// <summary>What a file's first bytes say it is.</summary>
public enum TensorFileFormat
{
    Unknown,
    Safetensors,
    /// <summary>A <c>torch.save</c> zip archive (torch &gt;= 1.6): .pt, .pth, .ckpt, .bin.</summary>
    TorchZip,
    /// <summary>A pre-1.6 <c>torch.save</c> file (raw pickle stream or tar), which is not read.</summary>
    TorchLegacy,
    /// <summary>A bare pickle that is not a torch checkpoint.</summary>
    Pickle,
}

/// <summary>Opens a tensor file of any supported format, chosen by its content (never by its extension).</summary>
public static class TensorFiles
{
    private static readonly byte[] LegacyTorchMagic = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

    /// <summary>Opens <paramref name="path"/> as a safetensors file or a PyTorch zip checkpoint.</summary>
    /// <param name="unwrap">How a PyTorch checkpoint's nested dicts become names (see <see cref="TorchCheckpointFile"/>).</param>
    public static ITensorSource Open(string path, CheckpointUnwrap unwrap = CheckpointUnwrap.Auto)
    {
        return Detect(path) switch
        {
            TensorFileFormat.Safetensors => SafetensorsFile.Open(path),
            TensorFileFormat.TorchZip => TorchCheckpointFile.Open(path, unwrap),
            TensorFileFormat.TorchLegacy => throw LegacyError(path),
            TensorFileFormat.Pickle => throw new SonicException($"{path}: a bare pickle, not a PyTorch zip checkpoint or safetensors file; re-save it with torch.save (torch >= 1.6) or convert it to safetensors"),
            _ => throw new SonicException($"{path}: unknown format (first bytes {FirstBytesHex(path)}); expected a safetensors file or a PyTorch zip checkpoint (.pt/.pth/.ckpt/.bin)"),
        };
    }

    internal static SonicException LegacyError(string path) =>
        new($"{path}: legacy (pre-1.6, non-zip) PyTorch format, which is not read; re-save it with torch.save(obj, path) in torch >= 1.6 or convert it to safetensors");

    /// <summary>Classifies a file by its first bytes. Throws <see cref="SonicException"/> when it does not exist or is a folder.</summary>
    public static TensorFileFormat Detect(string path)
    {
        if (Directory.Exists(path)) throw new SonicException($"{path}: is a folder, not a tensor file");
        if (!File.Exists(path)) throw new SonicException($"{path}: file not found");
        Span<byte> head = stackalloc byte[512];
        int n;
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read))
        {
            n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        }
        head = head[..n];
        if (n >= 4 && head[0] == (byte)'P' && head[1] == (byte)'K' && ((head[2] == 3 && head[3] == 4) || (head[2] == 5 && head[3] == 6)))
            return TensorFileFormat.TorchZip;
        if (head.StartsWith(LegacyTorchMagic)) return TensorFileFormat.TorchLegacy;
        if (n >= 262 && head.Slice(257, 5).SequenceEqual("ustar"u8)) return TensorFileFormat.TorchLegacy;
        if (n >= 9)
        {
            ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(head);
            // a truncated file still counts: SafetensorsFile.Open then says what is missing
            if (headerLen >= 2 && headerLen <= 100UL * 1024 * 1024 && head[8] == (byte)'{') return TensorFileFormat.Safetensors;
        }
        if (n >= 2 && head[0] == 0x80 && head[1] <= 5) return TensorFileFormat.Pickle;
        return TensorFileFormat.Unknown;
    }

    private static string FirstBytesHex(string path)
    {
        var buf = new byte[8];
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        int n = fs.ReadAtLeast(buf, buf.Length, throwOnEndOfStream: false);
        return n == 0 ? "none: the file is empty" : Convert.ToHexString(buf, 0, n);
    }
}
