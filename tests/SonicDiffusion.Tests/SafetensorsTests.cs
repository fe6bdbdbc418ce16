using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

public class SafetensorsTests
{
    private static Dictionary<string, Tensor> AllDtypes()
    {
        var g = new Generator(17);
        using var x = torch.randn(new long[] { 4, 6 }, generator: g);
        return new Dictionary<string, Tensor>
        {
            ["f64"] = torch.randn(new long[] { 3 }, dtype: ScalarType.Float64, generator: g),
            ["f32"] = torch.randn(new long[] { 2, 3 }, generator: g),
            ["f16"] = torch.randn(new long[] { 5 }, generator: g).to_type(ScalarType.Float16),
            ["bf16"] = torch.randn(new long[] { 3, 1, 2 }, generator: g).to_type(ScalarType.BFloat16),
            ["i64"] = torch.tensor(new long[] { long.MinValue, -1, 0, long.MaxValue }),
            ["i32"] = torch.tensor(new[] { int.MinValue, 7 }),
            ["i16"] = torch.tensor(new short[] { -300, 300 }),
            ["i8"] = torch.tensor(new sbyte[] { -128, 127 }),
            ["u8"] = torch.tensor(new byte[] { 0, 255, 9 }),
            ["bool"] = torch.tensor(new[] { true, false, true }),
            ["scalar"] = torch.tensor(2.5f),
            ["empty"] = torch.zeros(0, 7),
            ["transposed"] = x.t(),                                   // non-contiguous
            ["strided"] = x[TensorIndex.Colon, TensorIndex.Slice(null, null, 2)], // gaps
            ["expanded"] = torch.tensor(new[] { 1f, 2f }).expand(3, 2),           // stride 0
        };
    }

    [Fact]
    public void RoundTripAllDtypesWithMetadataAndNonContiguousTensors()
    {
        using var dir = RepoPaths.NewTemp();
        var tensors = AllDtypes();
        Assert.False(tensors["transposed"].is_contiguous());
        var meta = new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode + \"quotes\"\nnewline" };
        string path = dir.File("all.safetensors");
        SafetensorsWriter.Write(path, tensors, meta);

        using var f = SafetensorsFile.Open(path);
        Assert.Equal(meta, f.Metadata);
        Assert.Equal(tensors.Keys.Order(), f.Names.Order());
        foreach (var (name, t) in tensors)
        {
            using var r = f.Read(name);
            using var c = t.contiguous();
            TensorAssert.BitEqual(c, r, name);
        }

        // header length is a multiple of 8 and every tensor starts aligned to its element size
        var bytes = File.ReadAllBytes(path);
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        Assert.Equal(0, n % 8);
        foreach (var e in f.Entries.Values)
            Assert.Equal(0, (8 + n + e.Begin) % SafetensorsFile.ElementSize(e.DType));
        // the data tiles the buffer exactly
        Assert.Equal(bytes.Length - 8 - n, f.Entries.Values.Sum(e => e.End - e.Begin));
        // no temporary file left behind
        Assert.Single(Directory.GetFiles(dir.Path));
        foreach (var t in tensors.Values) t.Dispose();
    }

    [Fact]
    public void HeaderIsPlainJsonThatOtherReadersParse()
    {
        using var dir = RepoPaths.NewTemp();
        string path = dir.File("h.safetensors");
        using var a = torch.ones(2, 3, dtype: ScalarType.BFloat16);
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["a"] = a }, new Dictionary<string, string> { ["k"] = "v" });
        var bytes = File.ReadAllBytes(path);
        int n = (int)BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, n));
        var e = doc.RootElement.GetProperty("a");
        Assert.Equal("BF16", e.GetProperty("dtype").GetString());
        Assert.Equal(new long[] { 2, 3 }, e.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64()));
        Assert.Equal(new long[] { 0, 12 }, e.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()));
        Assert.Equal("v", doc.RootElement.GetProperty("__metadata__").GetProperty("k").GetString());
        Assert.Equal(8 + n + 12, bytes.Length);
    }

    [Fact]
    public void WriterStreamsOneTensorAtATime()
    {
        using var dir = RepoPaths.NewTemp();
        var produced = new List<Tensor>();
        var entries = Enumerable.Range(0, 4).Select(i => new SafetensorsWriter.Entry($"t{i}", "F32", new long[] { 8 }, () =>
        {
            // when a tensor is produced, every earlier one has already been written and released
            Assert.All(produced, p => Assert.True(p.IsInvalid));
            var t = torch.full(8, (float)i);
            produced.Add(t);
            return t;
        }, true)).ToList();
        string path = dir.File("s.safetensors");
        SafetensorsWriter.Write(path, entries);
        Assert.All(produced, p => Assert.True(p.IsInvalid));
        using var f = SafetensorsFile.Open(path);
        using var t3 = f.Read("t3");
        Assert.Equal(3f, t3[5].item<float>());
    }

    [Fact]
    public void FailedWriteLeavesNoFileAndKeepsTheOldOne()
    {
        using var dir = RepoPaths.NewTemp();
        string path = dir.File("keep.safetensors");
        using var a = torch.ones(3);
        SafetensorsWriter.Write(path, new Dictionary<string, Tensor> { ["a"] = a });
        var before = File.ReadAllBytes(path);

        var entries = new[]
        {
            new SafetensorsWriter.Entry("a", "F32", new long[] { 3 }, () => torch.zeros(3), true),
            new SafetensorsWriter.Entry("b", "F32", new long[] { 3 }, () => throw new SonicException("source.pt: cannot read 'b'"), true),
        };
        var ex = Assert.Throws<SonicException>(() => SafetensorsWriter.Write(path, entries));
        Assert.Contains("'b'", ex.Message);
        Assert.Equal(before, File.ReadAllBytes(path));
        Assert.Single(Directory.GetFiles(dir.Path));

        // a produced tensor that does not match its declaration is refused the same way
        var wrong = new[] { new SafetensorsWriter.Entry("w", "F16", new long[] { 3 }, () => torch.zeros(3), true) };
        var ex2 = Assert.Throws<SonicException>(() => SafetensorsWriter.Write(dir.File("new.safetensors"), wrong));
        TensorAssert.IsOneLineNaming(ex2, "new.safetensors", "'w'");
        Assert.Single(Directory.GetFiles(dir.Path));
    }

    [Fact]
    public void WriterRefusesBadNamesAndMissingFolder()
    {
        using var dir = RepoPaths.NewTemp();
        using var a = torch.ones(1);
        var e1 = Assert.Throws<SonicException>(() => SafetensorsWriter.Write(dir.File("x.safetensors"), new Dictionary<string, Tensor> { ["__metadata__"] = a }));
        TensorAssert.IsOneLineNaming(e1, "x.safetensors", "__metadata__");
        var e2 = Assert.Throws<SonicException>(() => SafetensorsWriter.Write(Path.Combine(dir.Path, "no", "x.safetensors"), new Dictionary<string, Tensor> { ["a"] = a }));
        TensorAssert.IsOneLineNaming(e2, "x.safetensors", "does not exist");
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void ConvertsATorchCheckpointToSafetensorsTensorByTensor()
    {
        using var dir = RepoPaths.NewTemp();
        string pt = Path.Combine(RepoPaths.Fixtures, "pt", "views.pt");
        string path = dir.File("views.safetensors");
        using (var src = TensorFiles.Open(pt)) SafetensorsWriter.Write(path, src, new Dictionary<string, string> { ["source"] = "views.pt" });
        using var back = SafetensorsFile.Open(path);
        using var expected = SafetensorsFile.Open(Path.Combine(RepoPaths.Fixtures, "pt", "views.expected.safetensors"));
        TensorAssert.SourcesBitEqual(expected, back);
        Assert.Equal("views.pt", back.Metadata["source"]);

        // with a rename that drops tensors and an fp16 conversion of floats
        string half = dir.File("half.safetensors");
        using (var src = TensorFiles.Open(pt))
            SafetensorsWriter.Write(half, src, rename: n => n.StartsWith("big", StringComparison.Ordinal) ? null : "v." + n, floatDtype: ScalarType.Float16);
        using var h = SafetensorsFile.Open(half);
        Assert.DoesNotContain("v.big", h.Names);
        Assert.Equal("F16", h.Info("v.xt").DType);
        using var xt = h.Read("v.xt");
        using var xtRef = expected.Read("xt");
        using var xtRef16 = xtRef.to_type(ScalarType.Float16);
        TensorAssert.BitEqual(xtRef16, xt, "v.xt");
    }

    [Fact]
    public void ReadsTheFloatDtypeAskedFor()
    {
        using var f = SafetensorsFile.Open(Path.Combine(RepoPaths.Fixtures, "pt", "plain.expected.safetensors"));
        using var h = f.Read("half", ScalarType.Float32);
        using var h16 = f.Read("half");
        Assert.Equal(ScalarType.Float32, h.dtype);
        Assert.True(h16.to_type(ScalarType.Float32).equal(h).all().item<bool>());
        using var i = f.Read("position_ids", ScalarType.Float32);
        Assert.Equal(ScalarType.Int64, i.dtype);
    }
}

[CollectionDefinition(nameof(MemoryMeasurement), DisableParallelization = true)]
public class MemoryMeasurement { }

[Collection(nameof(MemoryMeasurement))]
public class SafetensorsMemoryTests
{
    private static long RssBytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        throw new InvalidOperationException("no VmRSS");
    }

    [Fact]
    public void ReadingOneTensorOfALargeFileDoesNotReadTheOthers()
    {
        if (!File.Exists("/proc/self/status")) return;
        using var dir = RepoPaths.NewTemp();
        string path = dir.File("large.safetensors");
        const long mediumElements = 12_000_000, bigElements = 63_000_000;   // 48 MB + 252 MB of F32
        long mediumEnd = 64 + mediumElements * 4, bigEnd = mediumEnd + bigElements * 4;
        string header = "{\"small\":{\"dtype\":\"F32\",\"shape\":[16],\"data_offsets\":[0,64]},"
            + $"\"medium\":{{\"dtype\":\"F32\",\"shape\":[{mediumElements}],\"data_offsets\":[64,{mediumEnd}]}},"
            + $"\"big\":{{\"dtype\":\"F32\",\"shape\":[{bigElements}],\"data_offsets\":[{mediumEnd},{bigEnd}]}}}}";
        header += new string(' ', (8 - header.Length % 8) % 8);
        using (var fs = new FileStream(path, FileMode.CreateNew))
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(len, header.Length);
            fs.Write(len);
            fs.Write(Encoding.ASCII.GetBytes(header));
            var small = new float[16];
            for (int i = 0; i < 16; i++) small[i] = i * 0.5f;
            fs.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(small.AsSpan()));
            fs.SetLength(8 + header.Length + bigEnd);                 // sparse: the other tensors' pages are holes
        }
        Assert.True(new FileInfo(path).Length > 300_000_000);

        using var f = SafetensorsFile.Open(path);
        using (var warm = torch.ones(16)) Assert.Equal(1f, warm[15].item<float>());   // libtorch's first use costs ~100 MB
        GC.Collect();
        long before = RssBytes();
        using (var s = f.Read("small"))
            Assert.Equal(7.5f, s[15].item<float>());
        long afterSmall = RssBytes();
        Assert.True(afterSmall - before < 16L << 20, $"reading a 64-byte tensor of a 300 MB file grew RSS by {(afterSmall - before) >> 20} MB");

        // the measurement is sensitive: reading the 48 MB tensor grows RSS by about twice its size (mapped pages + copy)
        using (var m = f.Read("medium"))
        {
            long afterMedium = RssBytes();
            Assert.True(afterMedium - afterSmall > 40L << 20, $"reading a 48 MB tensor grew RSS by only {(afterMedium - afterSmall) >> 20} MB");
        }
    }
}
