using System.Buffers.Binary;

namespace SonicDiffusion.Audio;

/// <summary>Writes RIFF/WAVE files.</summary>
public static class WavWriter
{
    /// <summary>Writes mono 16-bit PCM (samples clipped to [-1, 1]) atomically: temp file, then rename.</summary>
    public static void WritePcm16(string path, ReadOnlySpan<float> mono, int sampleRate)
    {
        if (sampleRate <= 0) throw new ArgumentOutOfRangeException(nameof(sampleRate), $"sample rate must be positive, got {sampleRate}");
        long dataBytes = (long)mono.Length * 2;
        if (dataBytes > uint.MaxValue - 36) throw new ArgumentException($"{path}: {mono.Length} samples do not fit in a WAV file");
        var bytes = new byte[44 + dataBytes];
        var h = bytes.AsSpan();
        "RIFF"u8.CopyTo(h);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], (uint)(36 + dataBytes));
        "WAVE"u8.CopyTo(h[8..]);
        "fmt "u8.CopyTo(h[12..]);
        BinaryPrimitives.WriteUInt32LittleEndian(h[16..], 16);
        BinaryPrimitives.WriteUInt16LittleEndian(h[20..], 1);
        BinaryPrimitives.WriteUInt16LittleEndian(h[22..], 1);
        BinaryPrimitives.WriteUInt32LittleEndian(h[24..], (uint)sampleRate);
        BinaryPrimitives.WriteUInt32LittleEndian(h[28..], (uint)sampleRate * 2);
        BinaryPrimitives.WriteUInt16LittleEndian(h[32..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(h[34..], 16);
        "data"u8.CopyTo(h[36..]);
        BinaryPrimitives.WriteUInt32LittleEndian(h[40..], (uint)dataBytes);
        for (int i = 0; i < mono.Length; i++)
        {
            float v = mono[i];
            v = float.IsNaN(v) ? 0 : Math.Clamp(v, -1f, 1f);
            BinaryPrimitives.WriteInt16LittleEndian(h[(44 + 2 * i)..], (short)MathF.Round(v * 32767f));
        }
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = full + ".tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, full, true);
    }
}
