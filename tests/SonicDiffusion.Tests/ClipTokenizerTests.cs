using System.IO.Compression;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Tests.Infrastructure;
using SonicDiffusion.Text;

namespace SonicDiffusion.Tests;

public class ClipTokenizerTests
{
    public static TheoryData<string> Cases => GoldenFixture.CaseIds("clip_tokenizer");

    public static TheoryData<string> Fixtures
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var f in GoldenFixture.All.Where(f => f.Kind == "clip_tokenizer")) data.Add(f.Name);
            return data;
        }
    }

    private static string AssetPath(GoldenFixture f, string role)
    {
        var a = ((JsonArray)f.Json["assets"]!).Select(x => x!.AsObject()).FirstOrDefault(x => (string?)x["role"] == role)
                ?? throw new InvalidOperationException($"{f.Name}: no asset with role '{role}'");
        return f.PathOf((string)a["file"]!);
    }

    private static readonly Dictionary<string, ClipTokenizer> _tokenizers = new();

    private static ClipTokenizer TokenizerOf(GoldenFixture f)
    {
        lock (_tokenizers)
        {
            if (!_tokenizers.TryGetValue(f.Folder, out var t))
                _tokenizers[f.Folder] = t = ClipTokenizer.FromFiles(AssetPath(f, "vocab"), AssetPath(f, "merges"));
            return t;
        }
    }

    private static JsonNode? Field(JsonNode node, string dotPath)
    {
        JsonNode? cur = node;
        foreach (var part in dotPath.Split('.')) cur = cur?[part];
        return cur;
    }

    private static long[] Longs(JsonNode? node) => node switch
    {
        JsonArray a => a.Select(x => (long)x!).ToArray(),
        JsonValue v => [(long)v],
        _ => throw new InvalidOperationException("expected a number or an array of numbers"),
    };

    private static JsonArray AllVectors(GoldenFixture f, string file, string array) =>
        (JsonArray)JsonNode.Parse(File.ReadAllText(f.PathOf(file)))![array]!;

    /// <summary>The vectors a case selects, after checking that its indices are exactly those whose fields equal "where".</summary>
    private static List<(int Index, JsonObject Vector)> SelectedVectors(FixtureCase c)
    {
        var spec = c.Json["vectors"]!.AsObject();
        var all = AllVectors(c.Fixture, (string)spec["file"]!, (string)spec["array"]!);
        var where = spec["where"] as JsonObject ?? new JsonObject();
        var selected = Enumerable.Range(0, all.Count)
            .Where(i => where.All(kv => JsonNode.DeepEquals(Field(all[i]!, kv.Key), kv.Value))).ToList();
        var indices = ((JsonArray)spec["indices"]!).Select(x => (int)x!).ToList();
        Assert.Equal(selected, indices);
        return indices.Select(i => (i, all[i]!.AsObject())).ToList();
    }

    private static string TextOf(FixtureCase c, JsonObject vector) =>
        (string)Field(vector, (string)c.Inputs["text"]!["field"]!)!;

    /// <summary>SD layout rule of the fixture config, applied to expected content ids of a declared alternative.</summary>
    private static long[] SdLayout(GoldenFixture f, long[] ids)
    {
        int n = f.ConfigInt("context_length");
        var r = Enumerable.Repeat((long)f.ConfigInt("pad_token_id"), n).ToArray();
        r[0] = f.ConfigInt("bos_token_id");
        int k = Math.Min(ids.Length, n - 2);
        Array.Copy(ids, 0, r, 1, k);
        r[1 + k] = f.ConfigInt("eos_token_id");
        return r;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void TokenizeMatchesFixtureVectors(string id)
    {
        var (f, c) = GoldenFixture.Resolve(id);
        Assert.Equal("tokenize", c.Op);
        var tok = TokenizerOf(f);
        int context = f.ConfigInt("context_length");
        var alternative = (c.Json["alternatives"] as JsonObject)?[ClipTokenizer.NormalizationVariant] as JsonObject;
        var failures = new List<string>();
        var vectors = SelectedVectors(c);
        foreach (var (index, v) in vectors)
        {
            var text = TextOf(c, v);
            var ids = tok.Encode(text).Select(i => (long)i).ToArray();
            var computed = new Dictionary<string, long[]>
            {
                ["ids"] = ids,
                ["ids_77_sd"] = tok.EncodeForModel(text, context),
                ["num_valid_77"] = [tok.CountValid(text, context)],
            };
            long[]? altIds = alternative?["ids"] is JsonObject altRef ? Longs(Field(v, (string)altRef["field"]!)) : null;
            foreach (var (role, reference) in c.Outputs)
            {
                Assert.True(computed.ContainsKey(role), $"{id}: output role '{role}' is not produced by the tokenizer");
                long[] expected;
                if (alternative?[role] is JsonObject altRole) expected = Longs(Field(v, (string)altRole["field"]!));
                else if (altIds != null && role == "ids_77_sd") expected = SdLayout(f, altIds);
                else if (altIds != null && role == "num_valid_77") expected = [Math.Min(altIds.Length, context - 2) + 2];
                else expected = Longs(Field(v, (string)reference!["field"]!));
                if (!computed[role].SequenceEqual(expected))
                    failures.Add($"[{index}] {role} for {System.Text.Json.JsonSerializer.Serialize(text)}: got [{string.Join(",", computed[role])}] expected [{string.Join(",", expected)}]");
            }
        }
        Assert.True(vectors.Count > 0, $"{id}: no vectors selected");
        Assert.True(failures.Count == 0, $"{id}: {failures.Count} mismatches ({ClipTokenizer.NormalizationVariant})\n" + string.Join("\n", failures));
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void NormalizedTextMatchesDeclaredVariant(string fixture)
    {
        var f = GoldenFixture.Get(fixture);
        var failures = new List<string>();
        foreach (var c in f.Cases)
            foreach (var (index, v) in SelectedVectors(c))
            {
                var expected = (string?)Field(v, $"variants.{ClipTokenizer.NormalizationVariant}.normalized");
                if (expected == null) continue;
                var got = ClipTextNormalizer.Normalize(TextOf(c, v));
                if (got != expected) failures.Add($"[{index}] got {System.Text.Json.JsonSerializer.Serialize(got)} expected {System.Text.Json.JsonSerializer.Serialize(expected)}");
            }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void DecodeMatchesReferenceDecode(string fixture)
    {
        var f = GoldenFixture.Get(fixture);
        var tok = TokenizerOf(f);
        int checkedCount = 0;
        foreach (var c in f.Cases)
            foreach (var (index, v) in SelectedVectors(c))
            {
                if (v["decoded"] is not JsonValue d) continue;
                Assert.True((string)d! == tok.Decode(Longs(v["ids"])), $"case {index}");
                checkedCount++;
            }
        Assert.True(checkedCount > 0);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void EmbeddedDefaultAndPlainFolderGiveTheFixtureFilesIds(string fixture)
    {
        var f = GoldenFixture.Get(fixture);
        var fromFiles = TokenizerOf(f);
        using var tmp = RepoPaths.NewTemp();
        foreach (var (role, name) in new[] { ("vocab", "vocab.json"), ("merges", "merges.txt") })
        {
            using var src = File.OpenRead(AssetPath(f, role));
            using var gz = new GZipStream(src, CompressionMode.Decompress);
            using var dst = File.Create(tmp.File(name));
            gz.CopyTo(dst);
        }
        var fromFolder = ClipTokenizer.FromFolder(tmp.Path);
        var def = ClipTokenizer.Default;
        Assert.Equal(fromFiles.VocabSize, def.VocabSize);
        Assert.Equal(fromFiles.MergeCount, def.MergeCount);
        Assert.Equal(f.ConfigInt("vocab_size"), def.VocabSize);
        Assert.Equal(f.ConfigInt("num_merges"), def.MergeCount);
        Assert.Equal(f.ConfigInt("bos_token_id"), def.BosId);
        Assert.Equal(f.ConfigInt("eos_token_id"), def.EosId);
        Assert.Equal(f.ConfigInt("pad_token_id"), def.PadId);
        foreach (var c in f.Cases)
            foreach (var (index, v) in SelectedVectors(c))
            {
                var text = TextOf(c, v);
                var expected = fromFiles.EncodeForModel(text);
                Assert.True(expected.SequenceEqual(def.EncodeForModel(text)), $"default tokenizer differs on case {index}");
                Assert.True(expected.SequenceEqual(fromFolder.EncodeForModel(text)), $"plain-folder tokenizer differs on case {index}");
            }
    }

    [Theory]
    [InlineData("a photo of a cat", new long[] { 49406, 320, 1125, 539, 320, 2368, 49407 })]
    [InlineData("A photograph of an astronaut riding a horse", new long[] { 49406, 320, 8853, 539, 550, 18376, 6765, 320, 4558, 49407 })]
    [InlineData("Hello, world! 2024", new long[] { 49406, 3306, 267, 1002, 256, 273, 271, 273, 275, 49407 })]
    [InlineData("", new long[] { 49406, 49407 })]
    public void SdArchitectureVectors(string prompt, long[] head)
    {
        var ids = ClipTokenizer.Default.EncodeForModel(prompt);
        Assert.Equal(77, ids.Length);
        Assert.Equal(head, ids[..head.Length]);
        Assert.All(ids[head.Length..], x => Assert.Equal(49407L, x));
        Assert.Equal(head.Length, ClipTokenizer.Default.CountValid(prompt));
    }

    [Fact]
    public void VocabularySanityIdsAndTruncation()
    {
        var t = ClipTokenizer.Default;
        Assert.Equal("!", t.Decode(new[] { 0 }));
        Assert.Equal("! ", t.Decode(new[] { 256 }));
        Assert.Equal(new[] { "a</w>" }, t.Tokenize("a"));
        Assert.Equal(new[] { 320 }, t.Encode("a"));
        var longIds = t.EncodeForModel(string.Join(" ", Enumerable.Repeat("a", 100)));
        Assert.Equal(49406, longIds[0]);
        Assert.All(longIds[1..76], x => Assert.Equal(320L, x));
        Assert.Equal(49407, longIds[76]);
        Assert.Equal(77, t.CountValid(string.Join(" ", Enumerable.Repeat("a", 100))));
        using var batch = t.EncodeBatch(["a photo of a cat", ""]);
        Assert.Equal(new long[] { 2, 77 }, batch.shape);
        Assert.Equal(t.EncodeForModel("a photo of a cat"), batch[0].data<long>().ToArray());
        Assert.Equal(t.EncodeForModel(""), batch[1].data<long>().ToArray());
    }

    [Fact]
    public void MissingFilesGiveOneLineErrors()
    {
        using var tmp = RepoPaths.NewTemp();
        var e = Assert.Throws<SonicException>(() => ClipTokenizer.FromFolder(tmp.Path));
        Assert.Contains("vocab.json", e.Message);
        File.WriteAllText(tmp.File("vocab.json"), "{\"a\": 0}");
        File.WriteAllText(tmp.File("merges.txt"), "#version: 0.2\na b\n");
        e = Assert.Throws<SonicException>(() => ClipTokenizer.FromFolder(tmp.Path));
        Assert.Contains("<|startoftext|>", e.Message);
        Assert.DoesNotContain("\n", e.Message);
    }

    // ---------------------------------------------------------------- Python semantics under the normalisation

    private static JsonObject PythonSemantics => JsonNode.Parse(File.ReadAllText(
        Path.Combine(RepoPaths.Fixtures, "clip_normalizer", "python_semantics.json")))!.AsObject();

    private static void CheckAll(string section, Func<string, string> f)
    {
        var failures = new List<string>();
        foreach (var item in (JsonArray)PythonSemantics[section]!)
        {
            var text = (string)item!["text"]!;
            var expected = item["expected"]!.ToJsonString();
            var got = f(text);
            if (got != expected) failures.Add($"{System.Text.Json.JsonSerializer.Serialize(text)}: got {got} expected {expected}");
        }
        Assert.True(failures.Count == 0, $"{section}:\n" + string.Join("\n", failures));
    }

    private static string Json(string s) => JsonValue.Create(s).ToJsonString();

    [Fact]
    public void PythonLowerMatches() => CheckAll("lower", t => Json(ClipTextNormalizer.PythonLower(t)));

    [Fact]
    public void WhitespaceCleanMatches() => CheckAll("whitespace_clean", t => Json(ClipTextNormalizer.WhitespaceClean(t)));

    [Fact]
    public void FtfyUnescapeHtmlMatches() => CheckAll("unescape_html", t => Json(ClipTextNormalizer.UnescapeHtml(t)));

    [Fact]
    public void PreTokenizeMatchesRegexFindall()
    {
        Assert.Equal(ClipTokenizer.PreTokenizePattern, (string)PythonSemantics["pattern"]!);
        foreach (var f in GoldenFixture.All.Where(f => f.Kind == "clip_tokenizer"))
            Assert.Equal(ClipTokenizer.PreTokenizePattern, (string)f.Config["pattern"]!);
        CheckAll("pretokenize", t => new JsonArray(ClipTokenizer.PreTokenize(t).Select(w => (JsonNode)JsonValue.Create(w)!).ToArray()).ToJsonString());
    }

    [Theory]
    [InlineData("mojibake: cafÃ©", "mojibake: café")]
    [InlineData("This â€” should be an em dash", "This — should be an em dash")]
    [InlineData("\u00c3\u00a0\u00c2\u00b2\u00c2\u00a0_\u00c3\u00a0\u00c2\u00b2\u00c2\u00a0", "ಠ_ಠ")]
    [InlineData("naïve résumé façade", "naïve résumé façade")]
    [InlineData("I\u0092m \u0093quoted\u0094", "I'm \"quoted\"")]
    [InlineData("\u001b[36;44mblue\u001b[0m\u0007", "blue")]
    [InlineData("ＬＯＵＤ\u3000ＮＯＩＳＥＳ ﬂubberiﬁc", "LOUD NOISES flubberific")]
    [InlineData("line1\r\nline2\u2028x", "line1\nline2\nx")]
    [InlineData("&lt;3 &amp;amp;", "<3 &")]
    [InlineData("<em>&lt;3</em>", "<em>&lt;3</em>")]
    [InlineData("a &amp; b\n<b>x</b> &amp;", "a & b\n<b>x</b> &amp;")]
    [InlineData("<b>x</b>\na &amp; b", "<b>x</b>\na &amp; b")]
    public void FixTextExamples(string input, string expected) => Assert.Equal(expected, ClipTextNormalizer.FixText(input));

    [Fact]
    public void FixTextKeepsNoncharactersAndReplacesLoneSurrogates()
    {
        Assert.Equal("x\uFFFE\u00E9\U0010FFFF\u0378\uFFFDy\uFDD0\u00E9", ClipTextNormalizer.FixText("x\uFFFEe\u0301\U0010FFFF\u0378\uD800y\uFDD0e\u0301"));
        var ids = ClipTokenizer.Default.Encode("x\uFFFE");
        Assert.True(ids.Length > 1 && ids[0] == ClipTokenizer.Default.Encode("x")[0]);
    }
}
