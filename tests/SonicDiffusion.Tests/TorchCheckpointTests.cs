using System.Text.Json.Nodes;
using SonicDiffusion.IO;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>
/// The PyTorch zip reader against files written by real torch.save (tests/fixtures/pt, made by make_pt_files.py with
/// torch 1.13; manifest.json says what each must expose) and against every golden fixture that ships the same weights
/// in two containers.
/// </summary>
public class TorchCheckpointTests
{
    private static string PtDir => Path.Combine(RepoPaths.Fixtures, "pt");
    private static JsonObject Manifest => JsonNode.Parse(File.ReadAllText(Path.Combine(PtDir, "manifest.json")))!.AsObject();
    private static JsonObject Entry(string file) => Manifest["files"]!.AsArray().Select(e => e!.AsObject()).Single(e => (string)e["file"]! == file);

    public static TheoryData<string> LoadableFiles()
    {
        var d = new TheoryData<string>();
        foreach (var e in Manifest["files"]!.AsArray()) d.Add((string)e!["file"]!);
        return d;
    }

    [Theory]
    [MemberData(nameof(LoadableFiles))]
    public void LoadsExactlyWhatTorchSaved(string file)
    {
        var e = Entry(file);
        using var src = TorchCheckpointFile.Open(Path.Combine(PtDir, file));
        using var expected = SafetensorsFile.Open(Path.Combine(PtDir, (string)e["expected"]!));
        TensorAssert.SourcesBitEqual(expected, src);
        Assert.Equal((string?)e["wrapper"], src.Wrapper);
        Assert.Equal((string?)e["stripped_prefix"], src.StrippedPrefix);
        Assert.Equal(e["skipped"]!.AsArray().Select(x => (string)x!).Order(StringComparer.Ordinal), src.SkippedEntries.Order(StringComparer.Ordinal));
        Assert.All(src.Globals, g => Assert.DoesNotContain("os.", g));
    }

    [Theory]
    [MemberData(nameof(LoadableFiles))]
    public void OpensByContentThroughTensorFiles(string file)
    {
        string path = Path.Combine(PtDir, file);
        Assert.Equal(TensorFileFormat.TorchZip, TensorFiles.Detect(path));
        using var src = TensorFiles.Open(path);
        Assert.IsType<TorchCheckpointFile>(src);
        Assert.Equal(TensorFileFormat.Safetensors, TensorFiles.Detect(Path.Combine(PtDir, (string)Entry(file)["expected"]!)));
    }

    [Fact]
    public void WithoutUnwrappingNamesAreTheFlattenedRoot()
    {
        var e = Entry("lightning.ckpt");
        using var src = TorchCheckpointFile.Open(Path.Combine(PtDir, "lightning.ckpt"), CheckpointUnwrap.None);
        Assert.Equal(e["names_as_is"]!.AsArray().Select(x => (string)x!).Order(StringComparer.Ordinal), src.Names.Order(StringComparer.Ordinal));
        Assert.Null(src.Wrapper);
        Assert.Contains("epoch", src.SkippedEntries);
        Assert.Contains("global_step", src.SkippedEntries);
        // the Lightning wrapper objects were met and kept inert
        Assert.Contains("pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint", src.Globals);
        Assert.Contains("numpy.core.multiarray.scalar", src.Globals);
        Assert.Contains("argparse.Namespace", src.Globals);
        using var inner = TorchCheckpointFile.Open(Path.Combine(PtDir, "lightning.ckpt"));
        foreach (var n in inner.Names)
        {
            using var a = inner.Read(n);
            using var b = src.Read("state_dict." + n);
            TensorAssert.BitEqual(a, b, n);
        }

        using var wrapped = TorchCheckpointFile.Open(Path.Combine(PtDir, "model_wrapper.pth"), CheckpointUnwrap.None);
        Assert.All(wrapped.Names, n => Assert.StartsWith("model.module.", n));
    }

    [Fact]
    public void ViewsAreCopiesIndependentOfEachOther()
    {
        using var src = TorchCheckpointFile.Open(Path.Combine(PtDir, "views.pt"));
        using var big = src.Read("big");
        using var rows = src.Read("rows_2_to_5");
        using var xt = src.Read("xt");
        Assert.True(xt.is_contiguous());
        Assert.Equal(new long[] { 5, 3 }, xt.shape);
        big.fill_(0f);
        Assert.Equal(8f, rows[0, 0].item<float>());   // base[2, 0] = 8
        using var again = src.Read("big");
        Assert.Equal(23f, again[5, 3].item<float>());
    }

    [Fact]
    public void ConvertsFloatsOnRequestOnly()
    {
        using var src = TorchCheckpointFile.Open(Path.Combine(PtDir, "plain.pt"));
        using var h = src.Read("half", ScalarType.Float32);
        using var h16 = src.Read("half");
        Assert.Equal(ScalarType.Float32, h.dtype);
        using var up = h16.to_type(ScalarType.Float32);
        TensorAssert.BitEqual(up, h, "half");
        using var i = src.Read("counter", ScalarType.Float32);
        Assert.Equal(ScalarType.Int64, i.dtype);
        Assert.Equal(123456789012L, i.item<long>());
        Assert.Equal(new TensorInfo("BF16", new long[] { 2, 3 }).Shape, src.Info("bf16").Shape);
        Assert.Equal("BF16", src.Info("bf16").DType);
    }

    [Fact]
    public void NamesFollowThePickleOrder()
    {
        using var src = TorchCheckpointFile.Open(Path.Combine(PtDir, "views.pt"));
        Assert.Equal(new[] { "big", "rows_2_to_5", "col_1", "same_as_big", "reshaped", "xt", "every_other", "expanded", "half_view", "scalar_view" }, src.Names);
    }

    /// <summary>Every golden fixture weights file that names another as <c>same_as</c> loads bit-exact equal to it.</summary>
    public static TheoryData<string> SameWeightsInTwoContainers()
    {
        var d = new TheoryData<string>();
        foreach (var f in GoldenFixture.All)
            foreach (var w in f.Weights.Select(w => w!.AsObject()))
                if (w["same_as"] is JsonValue) d.Add($"{f.Name}/{(string)w["file"]!}");
        return d;
    }

    [Theory]
    [MemberData(nameof(SameWeightsInTwoContainers))]
    public void GoldenCopiesLoadBitExactEqual(string id)
    {
        var f = GoldenFixture.Get(id[..id.IndexOf('/')]);
        var w = f.Weights.Select(x => x!.AsObject()).Single(x => (string)x["file"]! == id[(id.IndexOf('/') + 1)..]);
        using var copy = TensorFiles.Open(f.PathOf((string)w["file"]!));
        using var reference = TensorFiles.Open(f.PathOf((string)w["same_as"]!));
        Assert.Equal((string?)w["state_dict_key"], (copy as TorchCheckpointFile)?.Wrapper);
        TensorAssert.SourcesBitEqual(reference, copy);
    }

    public static TheoryData<string> GoldenWeightFiles()
    {
        var d = new TheoryData<string>();
        foreach (var f in GoldenFixture.All)
            foreach (var w in f.Weights.Select(w => w!.AsObject()))
                d.Add($"{f.Name}/{(string)w["file"]!}");
        return d;
    }

    /// <summary>Every golden weights file opens by content with the tensor count, prefix and float element count fixture.json states.</summary>
    [Theory]
    [MemberData(nameof(GoldenWeightFiles))]
    public void GoldenWeightFilesMatchTheirDescription(string id)
    {
        var f = GoldenFixture.Get(id[..id.IndexOf('/')]);
        var w = f.Weights.Select(x => x!.AsObject()).Single(x => (string)x["file"]! == id[(id.IndexOf('/') + 1)..]);
        using var src = TensorFiles.Open(f.PathOf((string)w["file"]!));
        Assert.Equal((int)w["tensors"]!, src.Names.Count);
        string prefix = (string?)w["key_prefix"] ?? "";
        Assert.All(src.Names, n => Assert.StartsWith(prefix, n));
        long floats = src.Names.Select(src.Info).Where(i => i.IsFloat).Sum(i => i.NumElements);
        Assert.Equal((long)w["float_elements"]!, floats);
    }
}
