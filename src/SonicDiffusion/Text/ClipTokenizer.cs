using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Text;

/// <summary>
/// CLIP byte-level BPE tokenizer (openai/CLIP <c>SimpleTokenizer</c> = Hugging Face <c>CLIPTokenizer</c>) with the
/// SD v1 sequence layout: [49406] + at most 75 content ids + [49407], padded with 49407 to 77.
/// Text is cleaned as HF <c>CLIPTokenizer</c> with ftfy installed does (<see cref="NormalizationVariant"/>,
/// <see cref="ClipTextNormalizer"/>): that is how SD pipelines tokenize prompts.
/// </summary>
public sealed class ClipTokenizer
{
    /// <summary>The documented normalisation this port implements (a variant name of the clip_tokenizer fixture).</summary>
    public const string NormalizationVariant = "hf_slow_with_ftfy";

    /// <summary>openai/CLIP and HF pre-tokenisation pattern (applied case-insensitively); see <see cref="PreTokenize"/>.</summary>
    public const string PreTokenizePattern = @"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+";

    public const string StartToken = "<|startoftext|>";
    public const string EndToken = "<|endoftext|>";
    public const int DefaultContextLength = 77;
    /// <summary>Merges used: merges.txt lines [1, 1 + 48894), as transformers slices them (49152 - 256 - 2).</summary>
    public const int MaxMerges = 49152 - 256 - 2;

    private static readonly string[] Contractions = ["s", "t", "re", "ve", "m", "ll", "d"];

    private readonly Dictionary<string, int> _encoder;
    private readonly string[] _decoder;
    private readonly Dictionary<(string, string), int> _ranks;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private static readonly string[] ByteToChar = BuildByteMap();
    private static readonly Dictionary<char, byte> CharToByte = ByteToChar.Select((c, b) => (c, b)).ToDictionary(x => x.c[0], x => (byte)x.b);

    public int BosId { get; }
    public int EosId { get; }
    /// <summary>SD v1 pads with the end token (HF pad_token = &lt;|endoftext|&gt;), not 0 as <c>clip.tokenize</c> does.</summary>
    public int PadId => EosId;
    public int VocabSize => _encoder.Count;
    public int MergeCount => _ranks.Count;
    /// <summary>Where the vocabulary came from (for messages).</summary>
    public string Source { get; }

    private ClipTokenizer(Dictionary<string, int> encoder, IReadOnlyList<(string, string)> merges, string source)
    {
        Source = source;
        _encoder = encoder;
        int max = encoder.Count == 0 ? -1 : encoder.Values.Max();
        _decoder = new string[max + 1];
        foreach (var (tok, id) in encoder)
        {
            if (id < 0) throw new SonicException($"{source}: vocab entry '{tok}' has negative id {id}");
            _decoder[id] = tok;
        }
        BosId = encoder.TryGetValue(StartToken, out var b) ? b : throw new SonicException($"{source}: vocab.json has no '{StartToken}' entry");
        EosId = encoder.TryGetValue(EndToken, out var e) ? e : throw new SonicException($"{source}: vocab.json has no '{EndToken}' entry");
        _ranks = new Dictionary<(string, string), int>(merges.Count);
        for (int i = 0; i < merges.Count; i++) _ranks[merges[i]] = i; // a repeated pair keeps its last rank, as dict(zip(...)) does
        _cache[StartToken] = [BosId];
        _cache[EndToken] = [EosId];
    }

    // ------------------------------------------------------------------------------------------------ construction

    /// <summary>Loads vocab.json + merges.txt (each plain or gzip-compressed, detected from the content).</summary>
    public static ClipTokenizer FromFiles(string vocabPath, string mergesPath)
    {
        if (!File.Exists(vocabPath)) throw new SonicException($"{vocabPath}: tokenizer vocabulary file not found");
        if (!File.Exists(mergesPath)) throw new SonicException($"{mergesPath}: tokenizer merges file not found");
        using var v = File.OpenRead(vocabPath);
        using var m = File.OpenRead(mergesPath);
        return FromStreams(v, m, vocabPath, mergesPath);
    }

    /// <summary>Loads a diffusers/HF <c>tokenizer/</c> folder: vocab.json and merges.txt (or their .gz).</summary>
    public static ClipTokenizer FromFolder(string dir)
    {
        if (!Directory.Exists(dir)) throw new SonicException($"{dir}: tokenizer folder not found");
        string Pick(string name) => new[] { name, name + ".gz" }.Select(n => Path.Combine(dir, n)).FirstOrDefault(File.Exists)
                                    ?? throw new SonicException($"{dir}: tokenizer folder has no {name}");
        return FromFiles(Pick("vocab.json"), Pick("merges.txt"));
    }

    private static readonly Lazy<ClipTokenizer> _default = new(() =>
    {
        var asm = typeof(ClipTokenizer).Assembly;
        Stream Open(string file) => asm.GetManifestResourceStream("SonicDiffusion.Text." + file)
                                    ?? throw new InvalidOperationException($"embedded resource SonicDiffusion.Text.{file} is missing from the library");
        using var v = Open("vocab.json.gz");
        using var m = Open("merges.txt.gz");
        return FromStreams(v, m, "embedded vocab.json.gz", "embedded merges.txt.gz");
    });

    /// <summary>The SD v1 tokenizer (openai/clip-vit-large-patch14 vocabulary) shipped inside the library.</summary>
    public static ClipTokenizer Default => _default.Value;

    public static ClipTokenizer FromStreams(Stream vocab, Stream merges, string vocabSource, string mergesSource)
    {
        var vocabText = ReadText(vocab, vocabSource);
        Dictionary<string, int> encoder;
        try
        {
            encoder = JsonSerializer.Deserialize<Dictionary<string, int>>(vocabText)
                      ?? throw new SonicException($"{vocabSource}: vocabulary is empty");
        }
        catch (JsonException e)
        {
            throw new SonicException($"{vocabSource}: not a JSON {{token: id}} vocabulary ({e.Message.Split('\n')[0]})");
        }

        var lines = ReadText(merges, mergesSource).Trim().Split('\n');
        var pairs = new List<(string, string)>();
        for (int i = 1; i < lines.Length && pairs.Count < MaxMerges; i++)
        {
            var parts = lines[i].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 2) throw new SonicException($"{mergesSource}: line {i + 1} is not a merge 'a b': '{lines[i]}'");
            pairs.Add((parts[0], parts[1]));
        }
        if (pairs.Count == 0) throw new SonicException($"{mergesSource}: no merges after the header line");
        return new ClipTokenizer(encoder, pairs, vocabSource);
    }

    private static string ReadText(Stream s, string source)
    {
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        var bytes = ms.ToArray();
        if (bytes.Length >= 2 && bytes[0] == 0x1F && bytes[1] == 0x8B)
        {
            try
            {
                using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
                using var outMs = new MemoryStream();
                gz.CopyTo(outMs);
                bytes = outMs.ToArray();
            }
            catch (InvalidDataException e) { throw new SonicException($"{source}: corrupt gzip data ({e.Message})"); }
        }
        try { return new UTF8Encoding(false, true).GetString(bytes); }
        catch (DecoderFallbackException) { throw new SonicException($"{source}: not UTF-8 text"); }
    }

    // ------------------------------------------------------------------------------------------------ encoding

    /// <summary>Content ids of <paramref name="text"/>, without start/end tokens and without truncation.</summary>
    public int[] Encode(string text)
    {
        var ids = new List<int>();
        foreach (var word in PreTokenize(ClipTextNormalizer.Normalize(text)))
            ids.AddRange(EncodeWord(word));
        return ids.ToArray();
    }

    /// <summary>The vocabulary strings of <see cref="Encode"/>'s ids.</summary>
    public string[] Tokenize(string text) => Encode(text).Select(i => _decoder[i]).ToArray();

    /// <summary>SD v1 model input: [bos] + ids[..contextLength-2] + [eos], right-padded with eos to <paramref name="contextLength"/>.</summary>
    public long[] EncodeForModel(string text, int contextLength = DefaultContextLength)
    {
        if (contextLength < 2) throw new SonicException($"context length {contextLength}: must be at least 2 (start and end tokens)");
        var ids = Encode(text);
        var result = new long[contextLength];
        Array.Fill(result, PadId);
        result[0] = BosId;
        int n = Math.Min(ids.Length, contextLength - 2);
        for (int i = 0; i < n; i++) result[1 + i] = ids[i];
        result[1 + n] = EosId;
        return result;
    }

    /// <summary>Positions of the model input that are not padding: start token through the first end token inclusive.</summary>
    public int CountValid(string text, int contextLength = DefaultContextLength) =>
        Math.Min(Encode(text).Length, contextLength - 2) + 2;

    /// <summary>int64 [B, contextLength] model input for a batch of prompts.</summary>
    public Tensor EncodeBatch(IReadOnlyList<string> texts, int contextLength = DefaultContextLength)
    {
        var flat = new long[texts.Count * contextLength];
        for (int b = 0; b < texts.Count; b++) EncodeForModel(texts[b], contextLength).CopyTo(flat, b * contextLength);
        return torch.tensor(flat, new long[] { texts.Count, contextLength }, ScalarType.Int64);
    }

    /// <summary>openai <c>SimpleTokenizer.decode</c>: ids → text, each end-of-word marker becomes a space.</summary>
    public string Decode(IEnumerable<long> ids)
    {
        var sb = new StringBuilder();
        foreach (var id in ids)
        {
            if (id < 0 || id >= _decoder.Length || _decoder[id] == null) throw new SonicException($"token id {id}: not in the vocabulary of {Source}");
            sb.Append(_decoder[id]);
        }
        var chars = sb.ToString();
        var bytes = new List<byte>(chars.Length);
        var utf8 = new UTF8Encoding(false, false);
        foreach (char c in chars)
        {
            if (CharToByte.TryGetValue(c, out var b)) bytes.Add(b);
            else bytes.AddRange(utf8.GetBytes(c.ToString()));
        }
        return utf8.GetString(bytes.ToArray()).Replace("</w>", " ");
    }

    public string Decode(IEnumerable<int> ids) => Decode(ids.Select(i => (long)i));

    private int[] EncodeWord(string word)
    {
        var utf8 = Encoding.UTF8.GetBytes(word);
        var sb = new StringBuilder(utf8.Length);
        foreach (var b in utf8) sb.Append(ByteToChar[b]);
        var token = sb.ToString();
        return _cache.GetOrAdd(token, t => Bpe(t).Select(s => _encoder.TryGetValue(s, out var id) ? id : EosId).ToArray());
    }

    /// <summary>Merge the lowest-ranked adjacent pair (every occurrence, left to right) until no pair has a rank.</summary>
    private List<string> Bpe(string token)
    {
        var word = new List<string>(token.Length);
        for (int i = 0; i < token.Length - 1; i++) word.Add(token[i].ToString());
        word.Add(token[^1] + "</w>");
        while (word.Count > 1)
        {
            (string, string) best = default;
            int bestRank = int.MaxValue;
            for (int i = 0; i < word.Count - 1; i++)
                if (_ranks.TryGetValue((word[i], word[i + 1]), out var r) && r < bestRank) { bestRank = r; best = (word[i], word[i + 1]); }
            if (bestRank == int.MaxValue) break;
            var merged = new List<string>(word.Count);
            for (int i = 0; i < word.Count; i++)
            {
                if (i < word.Count - 1 && word[i] == best.Item1 && word[i + 1] == best.Item2)
                {
                    merged.Add(best.Item1 + best.Item2);
                    i++;
                }
                else merged.Add(word[i]);
            }
            word = merged;
        }
        return word;
    }

    /// <summary>
    /// <see cref="PreTokenizePattern"/> matched case-insensitively over code points (Python <c>regex.findall</c>):
    /// .NET <c>Regex</c> sees UTF-16 code units, so letters and digits outside the BMP would fall into the wrong class.
    /// Alternatives are tried in pattern order at each position; whitespace matches none and is skipped.
    /// </summary>
    public static IEnumerable<string> PreTokenize(string text)
    {
        int i = 0;
        while (i < text.Length)
        {
            if (MatchesIgnoreCase(text, i, StartToken)) { yield return text.Substring(i, StartToken.Length); i += StartToken.Length; continue; }
            if (MatchesIgnoreCase(text, i, EndToken)) { yield return text.Substring(i, EndToken.Length); i += EndToken.Length; continue; }
            if (text[i] == '\'')
            {
                var c = Contractions.FirstOrDefault(s => MatchesIgnoreCase(text, i + 1, s));
                if (c != null) { yield return text.Substring(i, 1 + c.Length); i += 1 + c.Length; continue; }
            }
            var kind = Classify(ClipTextNormalizer.RuneAt(text, i, out int len));
            if (kind == CharKind.Space) { i += len; continue; }
            if (kind == CharKind.Number) { yield return text.Substring(i, len); i += len; continue; }
            int j = i + len;
            while (j < text.Length)
            {
                var k = Classify(ClipTextNormalizer.RuneAt(text, j, out int l));
                if (k != kind) break;
                j += l;
            }
            yield return text[i..j];
            i = j;
        }
    }

    private enum CharKind { Letter, Number, Space, Other }

    private static CharKind Classify(Rune r)
    {
        if (IsWhiteSpace(r.Value)) return CharKind.Space;
        return Rune.GetUnicodeCategory(r) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharKind.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharKind.Number,
            _ => CharKind.Other,
        };
    }

    // Unicode White_Space: what the regex module's \s matches.
    private static bool IsWhiteSpace(int c) => c is >= 0x09 and <= 0x0D or 0x20 or 0x85 or 0xA0 or 0x1680 or >= 0x2000 and <= 0x200A
        or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    private static bool MatchesIgnoreCase(string text, int at, string literal)
    {
        if (at + literal.Length > text.Length) return false;
        for (int k = 0; k < literal.Length; k++)
            if (Fold(text[at + k]) != Fold(literal[k])) return false;
        return true;
    }

    // Simple case folding for the ASCII letters of the literals (U+017F long s and U+212A Kelvin fold to s and k).
    private static char Fold(char c) => c switch
    {
        '\u017F' => 's',
        '\u212A' => 'k',
        _ => char.ToLowerInvariant(c),
    };

    private static string[] BuildByteMap()
    {
        var map = new string[256];
        var printable = new List<int>();
        for (int b = '!'; b <= '~'; b++) printable.Add(b);
        for (int b = 0xA1; b <= 0xAC; b++) printable.Add(b);
        for (int b = 0xAE; b <= 0xFF; b++) printable.Add(b);
        foreach (var b in printable) map[b] = ((char)b).ToString();
        int n = 0;
        for (int b = 0; b < 256; b++)
            if (map[b] == null) map[b] = ((char)(256 + n++)).ToString();
        return map;
    }
}
