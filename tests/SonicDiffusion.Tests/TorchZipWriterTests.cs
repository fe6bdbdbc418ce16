using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>
/// The torch.save writer. tests/fixtures/torchzip/sonic_written.pt was written by this writer from
/// <see cref="Sample"/> and loaded by PyTorch 1.13 with <c>torch.load(weights_only=True)</c>
/// (check_torch_load.py → check_result.json). These tests need no Python: they prove the writer still produces exactly
/// those bytes, and that our own reader reads back what was written. SONIC_REGEN_TORCHZIP=1 rewrites the file.
/// </summary>
public class TorchZipWriterTests
{
    private static string Committed => Path.Combine(RepoPaths.Fixtures, "torchzip", "sonic_written.pt");

    /// <summary>The tensors of sonic_written.pt (check_torch_load.py rebuilds the same values).</summary>
    public static List<KeyValuePair<string, Tensor>> Sample()
    {
        var transposed = arange(12, dtype: ScalarType.Float32).reshape(3, 4).t();
        return
        [
            new("f32_matrix", arange(15, dtype: ScalarType.Float32).reshape(3, 5).mul(0.25).sub(1)),
            new("f16_vector", arange(300, dtype: ScalarType.Float32).sub(150).div(64).to_type(ScalarType.Float16)),
            new("bf16_block", arange(24, dtype: ScalarType.Float32).reshape(2, 3, 4).div(8).sub(1).to_type(ScalarType.BFloat16)),
            new("f64_thirds", arange(4, dtype: ScalarType.Float64).div(3)),
            new("i64_counts", tensor(new long[] { 0, 1, -1, 1L << 40, -(1L << 40) })),
            new("up_blocks.1.attentions.0.transformer_blocks.0.gate_adapter", tensor(new float[] { 0.6875f })),
            new("scalar", tensor(2.5f)),
            new("empty", zeros(0, 4)),
            new("transposed", transposed),
            new("big_u8", arange(70000, dtype: ScalarType.Int64).remainder(251).to_type(ScalarType.Byte)),
            new("bool_mask", tensor(new[] { true, false, true, true, false, false })),
            new("ünïcode.weight", tensor(new float[] { 1, -1 })),
            new("four_d", arange(2 * 3 * 1 * 2, dtype: ScalarType.Float32).reshape(2, 3, 1, 2)),
        ];
    }

    [Fact]
    public void WritesTheBytesPyTorchWasShownToLoad()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        var path = tmp.File("sample.pt");
        TorchZipWriter.Write(path, Sample());
        if (Environment.GetEnvironmentVariable("SONIC_REGEN_TORCHZIP") == "1") File.Copy(path, Committed, true);
        Assert.True(File.Exists(Committed), $"{Committed} is missing");
        Assert.Equal(File.ReadAllBytes(Committed), File.ReadAllBytes(path));
        var result = File.ReadAllText(Path.Combine(RepoPaths.Fixtures, "torchzip", "check_result.json"));
        Assert.Contains("\"all_equal\": true", result);
        Assert.Contains("\"weights_only\": true", result);
    }

    /// <summary>sonic_written_wrapped.pt: the first three sample tensors under {'model': ...} (the CLAP checkpoint layout).</summary>
    [Fact]
    public void WritesAWrappedStateDictPyTorchWasShownToLoad()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        var path = tmp.File("wrapped.pt");
        TorchZipWriter.Write(path, Sample().Take(3), wrapper: "model");
        var committed = Path.Combine(RepoPaths.Fixtures, "torchzip", "sonic_written_wrapped.pt");
        if (Environment.GetEnvironmentVariable("SONIC_REGEN_TORCHZIP") == "1") File.Copy(path, committed, true);
        Assert.Equal(File.ReadAllBytes(committed), File.ReadAllBytes(path));
        Assert.Contains("\"wrapped_all_equal\": true", File.ReadAllText(Path.Combine(RepoPaths.Fixtures, "torchzip", "check_result.json")));
        using var src = TensorFiles.Open(path);
        Assert.Equal(Sample().Take(3).Select(kv => kv.Key), src.Names);
    }

    [Fact]
    public void ZipEntriesAreStoredAlignedAndReadableByDotNet()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        var path = tmp.File("sample.pth");
        var sample = Sample();
        TorchZipWriter.Write(path, sample);
        var bytes = File.ReadAllBytes(path);
        using var zip = new System.IO.Compression.ZipArchive(File.OpenRead(path));
        var names = zip.Entries.Select(e => e.FullName).ToList();
        Assert.Equal("archive/data.pkl", names[0]);
        Assert.Equal("archive/version", names[^1]);
        Assert.Contains("archive/byteorder", names);
        Assert.Equal(sample.Count + 3, names.Count);
        for (int i = 0; i < sample.Count; i++)
        {
            var e = zip.GetEntry($"archive/data/{i}")!;
            using var c = sample[i].Value.contiguous();
            Assert.Equal(c.NumberOfElements * c.ElementSize, e.Length);
            Assert.Equal(e.Length, e.CompressedLength);
            using var s = e.Open();
            var data = new byte[e.Length];
            s.ReadExactly(data);
            Assert.Equal(c.bytes.ToArray(), data);
        }
        // every data record starts on a 64-byte boundary (local header 30 + name + extra)
        int pos = 0;
        while (BitConverter.ToUInt32(bytes, pos) == 0x04034b50)
        {
            int nameLen = BitConverter.ToUInt16(bytes, pos + 26), extra = BitConverter.ToUInt16(bytes, pos + 28);
            int size = BitConverter.ToInt32(bytes, pos + 18);
            int dataStart = pos + 30 + nameLen + extra;
            Assert.Equal(0, dataStart % 64);
            pos = dataStart + size;
        }
    }

    [Fact]
    public void OurReaderReadsBackWhatWasWritten()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        var path = tmp.File("roundtrip.pt");
        var sample = Sample();
        TorchZipWriter.Write(path, sample);
        using var src = TensorFiles.Open(path);
        Assert.Equal(sample.Select(s => s.Key), src.Names);
        foreach (var (name, t) in sample)
        {
            using var back = src.Read(name);
            Assert.Equal(t.dtype, back.dtype);
            Assert.Equal(t.shape, back.shape);
            Assert.True(back.equal(t.contiguous()).all().item<bool>(), name);
        }
    }

    [Fact]
    public void BadTargetsAreOneLineErrors()
    {
        using var scope = NewDisposeScope();
        using var tmp = new TempDir();
        var one = new[] { new KeyValuePair<string, Tensor>("a", ones(2)) };
        var e1 = Assert.Throws<SonicException>(() => TorchZipWriter.Write(Path.Combine(tmp.Path, "no", "such", "x.pt"), one));
        Assert.Contains("does not exist", e1.Message);
        var e2 = Assert.Throws<SonicException>(() => TorchZipWriter.Write(tmp.File("c.pt"), new[] { new KeyValuePair<string, Tensor>("c", ones(2, dtype: ScalarType.ComplexFloat32)) }));
        Assert.Contains("'c'", e2.Message);
        Assert.False(File.Exists(tmp.File("c.pt")));
        var e3 = Assert.Throws<SonicException>(() => TensorFileWriter.Write(tmp.File("x.npz"), new Dictionary<string, Tensor> { ["a"] = ones(1) }));
        Assert.Contains(".safetensors", e3.Message);
        Assert.DoesNotContain("\n", e1.Message + e2.Message + e3.Message);
    }
}
