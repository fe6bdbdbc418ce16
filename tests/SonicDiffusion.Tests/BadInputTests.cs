using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>Every kind of bad input gives one clear <see cref="SonicException"/> line naming the file (and key), never a crash.</summary>
public class BadInputTests
{
    private static string PtDir => Path.Combine(RepoPaths.Fixtures, "pt");
    private static string BlockPt => Path.Combine(RepoPaths.Golden, "gated_block", "block.pt");
    private static string BlockSafetensors => Path.Combine(RepoPaths.Golden, "gated_block", "block.safetensors");

    /// <summary>Opens the file and reads every tensor: whatever is wrong must surface as a SonicException.</summary>
    private static SonicException OpenAndReadAll(string path)
    {
        return Assert.Throws<SonicException>(() =>
        {
            using var src = TensorFiles.Open(path);
            foreach (var n in src.Names) src.Read(n).Dispose();
        });
    }

    private static string WriteSafetensors(TempDir dir, string name, string header, int dataBytes)
    {
        var h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, h.Length);
        h.CopyTo(bytes, 8);
        string path = dir.File(name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public void TruncatedSafetensors()
    {
        using var dir = RepoPaths.NewTemp();
        var bytes = File.ReadAllBytes(BlockSafetensors);
        string path = dir.File("cut.safetensors");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        TensorAssert.IsOneLineNaming(OpenAndReadAll(path), path, "truncated");

        string tiny = dir.File("tiny.safetensors");
        File.WriteAllBytes(tiny, bytes[..20]);                       // header length says more than the file has
        TensorAssert.IsOneLineNaming(OpenAndReadAll(tiny), tiny);

        string empty = dir.File("empty.safetensors");
        File.WriteAllBytes(empty, []);
        TensorAssert.IsOneLineNaming(OpenAndReadAll(empty), empty, "empty");
    }

    [Fact]
    public void OverlappingSafetensorsOffsets()
    {
        using var dir = RepoPaths.NewTemp();
        string path = WriteSafetensors(dir, "overlap.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24);
        TensorAssert.IsOneLineNaming(OpenAndReadAll(path), path, "overlaps");
    }

    [Fact]
    public void SafetensorsOffsetsBeyondTheFile()
    {
        using var dir = RepoPaths.NewTemp();
        string path = WriteSafetensors(dir, "beyond.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8);
        TensorAssert.IsOneLineNaming(OpenAndReadAll(path), path, "'w'");
        string path2 = WriteSafetensors(dir, "mismatch.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}", 12);
        TensorAssert.IsOneLineNaming(OpenAndReadAll(path2), path2, "'w'");
        string path3 = WriteSafetensors(dir, "huge.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}", 16);
        TensorAssert.IsOneLineNaming(OpenAndReadAll(path3), path3, "'w'");
    }

    [Fact]
    public void SafetensorsHeaderNotJson()
    {
        using var dir = RepoPaths.NewTemp();
        string path = WriteSafetensors(dir, "notjson.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_", 4);
        TensorAssert.IsOneLineNaming(OpenAndReadAll(path), path, "JSON");
        string dup = WriteSafetensors(dir, "dup.safetensors",
            "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8);
        TensorAssert.IsOneLineNaming(OpenAndReadAll(dup), dup, "'w'");
    }

    [Fact]
    public void SafetensorsUnknownDtype()
    {
        using var dir = RepoPaths.NewTemp();
        string path = WriteSafetensors(dir, "dtype.safetensors", "{\"w\":{\"dtype\":\"Q4_K\",\"shape\":[2],\"data_offsets\":[0,1]}}", 1);
        TensorAssert.IsOneLineNaming(OpenAndReadAll(path), path, "'w'", "Q4_K");
    }

    public static TheoryData<string> RefusedFiles()
    {
        var d = new TheoryData<string>();
        foreach (var e in JsonNode.Parse(File.ReadAllText(Path.Combine(PtDir, "manifest.json")))!["refused"]!.AsArray()) d.Add((string)e!["file"]!);
        return d;
    }

    /// <summary>Malicious pickles (os.system, eval, subprocess.Popen) and the legacy format are refused; nothing runs.</summary>
    [Theory]
    [MemberData(nameof(RefusedFiles))]
    public void RefusedCheckpoints(string file)
    {
        var e = JsonNode.Parse(File.ReadAllText(Path.Combine(PtDir, "manifest.json")))!["refused"]!.AsArray()
            .Select(x => x!.AsObject()).Single(x => (string)x["file"]! == file);
        string? marker = (string?)e["marker"];
        if (marker != null && File.Exists(marker)) File.Delete(marker);
        string path = Path.Combine(PtDir, file);
        var ex = OpenAndReadAll(path);
        TensorAssert.IsOneLineNaming(ex, path, e["message_contains"]!.AsArray().Select(x => (string)x!).ToArray());
        var ex2 = Assert.Throws<SonicException>(() => TorchCheckpointFile.Open(path, CheckpointUnwrap.None));
        Assert.Equal(ex.Message, ex2.Message);
        if (marker != null) Assert.False(File.Exists(marker), "the payload ran");
    }

    [Fact]
    public void TruncatedZip()
    {
        using var dir = RepoPaths.NewTemp();
        var bytes = File.ReadAllBytes(BlockPt);
        string path = dir.File("cut.pt");
        File.WriteAllBytes(path, bytes[..(bytes.Length * 3 / 5)]);
        TensorAssert.IsOneLineNaming(OpenAndReadAll(path), path, "truncated");
    }

    /// <summary>Rewrites block.pt, changing or dropping entries (stored, uncompressed, like torch.save).</summary>
    private static string Repack(TempDir dir, string name, Func<string, byte[], byte[]?> change)
    {
        string path = dir.File(name);
        using var src = ZipFile.OpenRead(BlockPt);
        using var dst = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var e in src.Entries)
        {
            byte[] data;
            using (var s = e.Open()) { using var ms = new MemoryStream(); s.CopyTo(ms); data = ms.ToArray(); }
            var changed = change(e.FullName, data);
            if (changed == null) continue;
            using var o = dst.CreateEntry(e.FullName, CompressionLevel.NoCompression).Open();
            o.Write(changed);
        }
        return path;
    }

    [Fact]
    public void MissingDataEntry()
    {
        using var dir = RepoPaths.NewTemp();
        string path = Repack(dir, "missing.pt", (n, d) => n == "block/data/3" ? null : d);
        // storage 3 holds attn1.to_q.weight (the pickle names each tensor's storage key)
        TensorAssert.IsOneLineNaming(OpenAndReadAll(path), path, "block/data/3", "missing", "'attn1.to_q.weight'");
    }

    [Fact]
    public void ShortDataEntry()
    {
        using var dir = RepoPaths.NewTemp();
        string path = Repack(dir, "short.pt", (n, d) => n == "block/data/3" ? d[..(d.Length / 2)] : d);
        TensorAssert.IsOneLineNaming(OpenAndReadAll(path), path, "block/data/3", "'attn1.to_q.weight'");
    }

    [Fact]
    public void ZipWithoutPickleOrWithGarbagePickle()
    {
        using var dir = RepoPaths.NewTemp();
        string noPkl = Repack(dir, "nopkl.pt", (n, d) => n.EndsWith("data.pkl", StringComparison.Ordinal) ? null : d);
        TensorAssert.IsOneLineNaming(OpenAndReadAll(noPkl), noPkl, "data.pkl");

        var rng = new Random(5);
        foreach (int cut in new[] { 1, 40, 200, 1000 })
        {
            string truncated = Repack(dir, $"pkl{cut}.pt", (n, d) => n.EndsWith("data.pkl", StringComparison.Ordinal) ? d[..cut] : d);
            TensorAssert.IsOneLineNaming(OpenAndReadAll(truncated), truncated, "pickle");
        }
        for (int i = 0; i < 20; i++)
        {
            string garbled = Repack(dir, $"garbled{i}.pt", (n, d) =>
            {
                if (!n.EndsWith("data.pkl", StringComparison.Ordinal)) return d;
                var c = (byte[])d.Clone();
                for (int k = 0; k < 8; k++) c[2 + rng.Next(c.Length - 2)] = (byte)rng.Next(256);
                return c;
            });
            try
            {
                using var src = TensorFiles.Open(garbled);
                foreach (var name in src.Names) src.Read(name).Dispose();
            }
            catch (SonicException ex)
            {
                TensorAssert.IsOneLineNaming(ex, garbled);
            }
        }
    }

    private static string ZipWithPickle(TempDir dir, string name, byte[] pickle)
    {
        string path = dir.File(name);
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        using (var s = zip.CreateEntry("archive/data.pkl", CompressionLevel.NoCompression).Open()) s.Write(pickle);
        using (var s = zip.CreateEntry("archive/version", CompressionLevel.NoCompression).Open()) s.Write("3\n"u8);
        return path;
    }

    /// <summary>Hand-made hostile pickles: cycles and exponentially shared containers end quickly with a clear error or an empty result.</summary>
    [Fact]
    public void HostilePickleStructures()
    {
        using var dir = RepoPaths.NewTemp();
        // {'a': <the dict itself>}
        var cyclic = ZipWithPickle(dir, "cyclic.pt", [0x80, 2, (byte)'}', (byte)'q', 0, (byte)'X', 1, 0, 0, 0, (byte)'a', (byte)'h', 0, (byte)'s', (byte)'.']);
        using (var src = TensorFiles.Open(cyclic)) Assert.Empty(src.Names);

        // {'x': L40} with L(k+1) = [Lk, Lk]: 2^40 paths through 40 shared lists
        foreach (int levels in new[] { 40, 80 })
        {
            var p = new List<byte> { 0x80, 2, (byte)']', (byte)'q', 0, (byte)'0' };
            for (int k = 0; k < levels; k++) p.AddRange(new byte[] { (byte)'(', (byte)'h', (byte)k, (byte)'h', (byte)k, (byte)'l', (byte)'q', (byte)(k + 1), (byte)'0' });
            p.InsertRange(2, new byte[] { (byte)'}', (byte)'X', 1, 0, 0, 0, (byte)'x' });
            p.AddRange(new byte[] { (byte)'h', (byte)levels, (byte)'s', (byte)'.' });
            var path = ZipWithPickle(dir, $"dag{levels}.pt", p.ToArray());
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var ex = Assert.Throws<SonicException>(() => TorchCheckpointFile.Open(path, CheckpointUnwrap.None));
            TensorAssert.IsOneLineNaming(ex, path, levels > 64 ? "nested more than" : "more than 1000000 entries");
            Assert.True(sw.Elapsed.TotalSeconds < 10, $"took {sw.Elapsed.TotalSeconds:F1} s");
        }

        // a storage type called as a function, a persistent id that is not a storage, an unsupported opcode
        var called = ZipWithPickle(dir, "called.pt", [0x80, 2, (byte)'c', .. "torch\nFloatStorage\n"u8, (byte)')', (byte)'R', (byte)'.']);
        TensorAssert.IsOneLineNaming(Assert.Throws<SonicException>(() => TensorFiles.Open(called)), called, "torch.FloatStorage");
        var pid = ZipWithPickle(dir, "pid.pt", [0x80, 2, (byte)'X', 1, 0, 0, 0, (byte)'a', (byte)'Q', (byte)'.']);
        TensorAssert.IsOneLineNaming(Assert.Throws<SonicException>(() => TensorFiles.Open(pid)), pid, "persistent id");
        var inst = ZipWithPickle(dir, "inst.pt", [(byte)'(', (byte)'i', .. "os\nsystem\n"u8, (byte)'.']);
        TensorAssert.IsOneLineNaming(Assert.Throws<SonicException>(() => TensorFiles.Open(inst)), inst, "opcode 0x69");
    }

    /// <summary>Random byte damage anywhere in a checkpoint (zip headers, pickle, data) or a safetensors file never escapes as anything but a SonicException.</summary>
    [Theory]
    [InlineData("gated_block/block.pt")]
    [InlineData("gated_block/block.safetensors")]
    public void RandomDamageNeverCrashes(string file)
    {
        using var dir = RepoPaths.NewTemp();
        var original = File.ReadAllBytes(Path.Combine(RepoPaths.Golden, file));
        var rng = new Random(11);
        var headerEnd = file.EndsWith(".pt", StringComparison.Ordinal) ? original.Length : 8 + (int)BinaryPrimitives.ReadInt64LittleEndian(original);
        for (int i = 0; i < 80; i++)
        {
            var c = (byte[])original.Clone();
            bool inZipDirectory = i % 2 == 0;                   // half the damage aimed at the zip's central directory / the header
            for (int k = 0; k < 1 + rng.Next(6); k++)
            {
                int at = inZipDirectory ? Math.Max(0, headerEnd - 1 - rng.Next(Math.Min(headerEnd, 3000))) : rng.Next(c.Length);
                c[at] = (byte)rng.Next(256);
            }
            string path = dir.File($"damaged{i}{Path.GetExtension(file)}");
            File.WriteAllBytes(path, c);
            try
            {
                using var src = TensorFiles.Open(path);
                foreach (var name in src.Names) src.Read(name).Dispose();
            }
            catch (SonicException ex)
            {
                TensorAssert.IsOneLineNaming(ex, path);
            }
        }
    }

    [Fact]
    public void UnknownFormatAndFolders()
    {
        using var dir = RepoPaths.NewTemp();
        string path = dir.File("weights.bin");
        File.WriteAllText(path, "GGUF this is not a checkpoint");
        TensorAssert.IsOneLineNaming(OpenAndReadAll(path), path, "unknown format");
        TensorAssert.IsOneLineNaming(Assert.Throws<SonicException>(() => TensorFiles.Open(dir.Path)), dir.Path, "folder");
        TensorAssert.IsOneLineNaming(Assert.Throws<SonicException>(() => TensorFiles.Open(dir.File("absent.pt"))), "absent.pt", "not found");
        var ex = Assert.Throws<SonicException>(() => TorchCheckpointFile.Open(BlockSafetensors));
        TensorAssert.IsOneLineNaming(ex, BlockSafetensors, "not a PyTorch zip checkpoint");
    }

    [Fact]
    public void UnknownTensorName()
    {
        using var src = TensorFiles.Open(BlockPt);
        TensorAssert.IsOneLineNaming(Assert.Throws<SonicException>(() => src.Read("no.such.key")), BlockPt, "'no.such.key'");
        TensorAssert.IsOneLineNaming(Assert.Throws<SonicException>(() => src.Info("no.such.key")), BlockPt, "'no.such.key'");
    }

    [Fact]
    public void WrongShapeLoadNamesTheKey()
    {
        using var linear = nn.Linear(4, 3);
        using var w = torch.zeros(3, 5);
        using var b = torch.zeros(3);
        var weights = new Dictionary<string, Tensor> { ["weight"] = w, ["bias"] = b };
        var ex = Assert.Throws<SonicException>(() => WeightLoader.Load(linear, weights, "linear.safetensors"));
        TensorAssert.IsOneLineNaming(ex, "linear.safetensors", "weight [3,5] expected [3,4]");
    }
}
