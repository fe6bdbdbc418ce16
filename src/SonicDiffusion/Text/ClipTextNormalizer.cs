using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace SonicDiffusion.Text;

/// <summary>
/// The text clean-up Hugging Face <c>CLIPTokenizer</c> applies before BPE when ftfy is installed
/// (variant <c>hf_slow_with_ftfy</c>): <c>whitespace_clean(ftfy.fix_text(text)).lower()</c>, with Python's
/// whitespace set and Python's <c>str.lower()</c> (İ → i̇, final sigma).
/// </summary>
/// <remarks>
/// <see cref="FixText"/> follows ftfy 6.3 <c>fix_text</c> with its default config: per line, repeated until
/// nothing changes: HTML entity decoding (skipped once a line contains '&lt;'), encoding repair, C1 controls →
/// Windows-1252, Latin ligatures, full/half-width forms, curly quotes, line breaks, lone surrogates, terminal
/// escapes, control characters, NFC. Every step is exact except the encoding repair, which is a subset: ftfy's
/// badness heuristic and its other code pages (1250/1251/1253/1254/1257, ISO-8859-2, MacRoman, cp437), CESU-8,
/// lost-byte and partial repairs are not implemented; text whose whole line re-encodes as Latin-1 or
/// Windows-1252 into valid multi-byte UTF-8 (classic "cafÃ©" mojibake) is decoded, as ftfy does.
/// </remarks>
public static class ClipTextNormalizer
{
    /// <summary>HF <c>whitespace_clean(fix_text(text)).lower()</c>.</summary>
    public static string Normalize(string text) => PythonLower(WhitespaceClean(FixText(text)));

    // Python str.isspace() characters: what re's \s, str.strip() and str.split() use.
    private const string PyWhitespaceClass = @"[\t\n\u000B\f\r\u001C-\u001F \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";
    private static readonly Regex WhitespaceRun = new(PyWhitespaceClass + "+", RegexOptions.CultureInvariant);

    public static bool IsPythonSpace(int c) => c is >= 0x09 and <= 0x0D or >= 0x1C and <= 0x20 or 0x85 or 0xA0 or 0x1680
        or >= 0x2000 and <= 0x200A or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000;

    /// <summary>HF <c>whitespace_clean</c>: every whitespace run becomes one space, then strip.</summary>
    public static string WhitespaceClean(string text)
    {
        var s = WhitespaceRun.Replace(text, " ");
        int a = 0, b = s.Length;
        while (a < b && IsPythonSpace(s[a])) a++;
        while (b > a && IsPythonSpace(s[b - 1])) b--;
        return s[a..b];
    }

    /// <summary>Python 3 <c>str.lower()</c>: simple lower-case mapping plus U+0130 → "i\u0307" and the Final_Sigma rule.</summary>
    public static string PythonLower(string text)
    {
        var sb = new StringBuilder(text.Length);
        int i = 0;
        while (i < text.Length)
        {
            var r = RuneAt(text, i, out int len);
            if (r.Value == 0x0130) sb.Append("i\u0307");
            else if (r.Value == 0x03A3) sb.Append(IsFinalSigma(text, i) ? '\u03C2' : '\u03C3');
            else sb.Append(Rune.ToLowerInvariant(r).ToString());
            i += len;
        }
        return sb.ToString();
    }

    // Python's handle_capital_sigma: \p{cased}\p{case-ignorable}* Σ !(\p{case-ignorable}* \p{cased}).
    private static bool IsFinalSigma(string s, int at)
    {
        int j = at;
        Rune c = default;
        bool found = false;
        while (j > 0)
        {
            c = RuneBefore(s, j, out int len);
            j -= len;
            if (!IsCaseIgnorable(c)) { found = true; break; }
        }
        if (!found || !IsCased(c)) return false;
        j = at + 1;
        while (j < s.Length)
        {
            c = RuneAt(s, j, out int len);
            j += len;
            if (!IsCaseIgnorable(c)) return !IsCased(c);
        }
        return true;
    }

    private static bool IsCased(Rune r)
    {
        var cat = Rune.GetUnicodeCategory(r);
        return cat is UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
               || Rune.ToLowerInvariant(r) != r || Rune.ToUpperInvariant(r) != r;
    }

    private static bool IsCaseIgnorable(Rune r)
    {
        var cat = Rune.GetUnicodeCategory(r);
        if (cat is UnicodeCategory.NonSpacingMark or UnicodeCategory.EnclosingMark or UnicodeCategory.Format
            or UnicodeCategory.ModifierLetter or UnicodeCategory.ModifierSymbol) return true;
        // Word_Break = MidLetter, MidNumLet or Single_Quote.
        return r.Value is 0x27 or 0x2E or 0x3A or 0xB7 or 0x387 or 0x55F or 0x5F4 or 0x2018 or 0x2019 or 0x2024 or 0x2027
            or 0xFE13 or 0xFE52 or 0xFE55 or 0xFF07 or 0xFF0E or 0xFF1A;
    }

    internal static Rune RuneAt(string s, int i, out int len)
    {
        if (Rune.TryGetRuneAt(s, i, out var r)) { len = r.Utf16SequenceLength; return r; }
        len = 1;
        return Rune.ReplacementChar;
    }

    private static Rune RuneBefore(string s, int end, out int len)
    {
        if (end >= 2 && char.IsSurrogatePair(s[end - 2], s[end - 1])) { len = 2; return new Rune(s[end - 2], s[end - 1]); }
        len = 1;
        return Rune.IsValid(s[end - 1]) ? new Rune(s[end - 1]) : Rune.ReplacementChar;
    }

    // ------------------------------------------------------------------------------------------------ ftfy fix_text

    private const int MaxDecodeLength = 1_000_000;

    /// <summary>ftfy 6.3 <c>fix_text</c> with the default config (see the class remarks for the one partial step).</summary>
    public static string FixText(string text)
    {
        var sb = new StringBuilder(text.Length);
        bool unescapeHtml = true;
        int pos = 0;
        while (pos < text.Length)
        {
            int brk = text.IndexOf('\n', pos) + 1;
            if (brk == 0) brk = text.Length;
            if (brk - pos > MaxDecodeLength) brk = pos + MaxDecodeLength;
            var segment = text[pos..brk];
            if (unescapeHtml && segment.Contains('<')) unescapeHtml = false;
            sb.Append(FixSegment(segment, unescapeHtml));
            pos = brk;
        }
        return sb.ToString();
    }

    private static string FixSegment(string text, bool unescapeHtml)
    {
        while (true)
        {
            var original = text;
            if (unescapeHtml) text = UnescapeHtml(text);
            text = FixEncoding(text);
            text = FixC1Controls(text);
            text = FixLatinLigatures(text);
            text = FixCharacterWidth(text);
            text = UncurlQuotes(text);
            text = FixLineBreaks(text);
            text = FixSurrogates(text);
            text = RemoveTerminalEscapes(text);
            text = RemoveControlChars(text);
            text = Nfc(text);
            if (text == original) return text;
        }
    }

    /// <summary>
    /// Unicode NFC like Python's <c>unicodedata.normalize("NFC")</c>. .NET refuses strings holding noncharacters
    /// (U+FFFE ...); they never compose and have combining class 0, so the runs between them are normalised apart.
    /// </summary>
    public static string Nfc(string text)
    {
        int i = 0, start = 0;
        StringBuilder? sb = null;
        while (i < text.Length)
        {
            var r = RuneAt(text, i, out int len);
            if (IsNoncharacter(r.Value))
            {
                sb ??= new StringBuilder(text.Length);
                sb.Append(text[start..i].Normalize(NormalizationForm.FormC)).Append(text, i, len);
                start = i + len;
            }
            i += len;
        }
        if (sb == null) return text.Normalize(NormalizationForm.FormC);
        return sb.Append(text[start..].Normalize(NormalizationForm.FormC)).ToString();
    }

    private static bool IsNoncharacter(int c) => c is >= 0xFDD0 and <= 0xFDEF || (c & 0xFFFE) == 0xFFFE;

    private static readonly Regex HtmlEntity = new("&#?[0-9A-Za-z]{1,24};", RegexOptions.CultureInvariant);

    private static readonly Lazy<Dictionary<string, string>> HtmlEntities = new(() =>
    {
        const string name = "SonicDiffusion.Text.html_entities.json.gz";
        using var s = typeof(ClipTextNormalizer).Assembly.GetManifestResourceStream(name)
                      ?? throw new InvalidOperationException($"embedded resource {name} is missing from the library");
        using var gz = new GZipStream(s, CompressionMode.Decompress);
        return JsonSerializer.Deserialize<Dictionary<string, string>>(gz)
               ?? throw new InvalidOperationException($"embedded resource {name} is empty");
    });

    /// <summary>ftfy <c>unescape_html</c>: named HTML5 entities (and all-caps spellings), decimal and hex references.</summary>
    public static string UnescapeHtml(string text)
    {
        if (!text.Contains('&')) return text;
        return HtmlEntity.Replace(text, m =>
        {
            var e = m.Value;
            if (HtmlEntities.Value.TryGetValue(e, out var v)) return v;
            if (e.StartsWith("&#", StringComparison.Ordinal))
            {
                var decoded = DecodeCharRef(e[2..^1]);
                return decoded == null || decoded.Contains(';') ? e : decoded;
            }
            return e;
        });
    }

    // Python html.unescape of a whole "&#...;" reference; null when it would decode only a prefix.
    private static string? DecodeCharRef(string body)
    {
        bool hex = body.Length > 1 && (body[0] == 'x' || body[0] == 'X');
        var digits = hex ? body[1..] : body;
        if (digits.Length == 0 || !digits.All(hex ? char.IsAsciiHexDigit : char.IsAsciiDigit)) return null;
        digits = digits.TrimStart('0');
        long num;
        if (digits.Length == 0) num = 0;
        else if (digits.Length > (hex ? 8 : 9)) num = long.MaxValue;
        else num = long.Parse(digits, hex ? NumberStyles.AllowHexSpecifier : NumberStyles.None, CultureInfo.InvariantCulture);

        if (num == 0x00) return "\uFFFD";
        if (num == 0x0D) return "\r";
        if (num is >= 0x80 and <= 0x9F) return Windows1252High[(int)num - 0x80].ToString();
        if (num is >= 0xD800 and <= 0xDFFF || num > 0x10FFFF) return "\uFFFD";
        if (num is >= 0x1 and <= 0x8 or >= 0xE and <= 0x1F or >= 0x7F and <= 0x9F or >= 0xFDD0 and <= 0xFDEF or 0xB
            || (num & 0xFFFE) == 0xFFFE) return "";
        return char.ConvertFromUtf32((int)num);
    }

    // Bytes 0x80..0x9F in "sloppy" Windows-1252: the five undefined bytes keep their Latin-1 code point.
    private const string Windows1252High =
        "\u20AC\u0081\u201A\u0192\u201E\u2026\u2020\u2021\u02C6\u2030\u0160\u2039\u0152\u008D\u017D\u008F" +
        "\u0090\u2018\u2019\u201C\u201D\u2022\u2013\u2014\u02DC\u2122\u0161\u203A\u0153\u009D\u017E\u0178";

    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    /// <summary>
    /// Subset of ftfy <c>fix_encoding</c>: while the text re-encodes (Latin-1, then sloppy Windows-1252) into valid
    /// UTF-8 that contains a multi-byte sequence, decode it as UTF-8.
    /// </summary>
    public static string FixEncoding(string text)
    {
        while (true)
        {
            if (text.All(c => c < 0x80)) return text;
            var fixedText = TryRedecode(text, latin1: true) ?? TryRedecode(text, latin1: false);
            if (fixedText == null || fixedText == text) return text;
            text = fixedText;
        }
    }

    private static string? TryRedecode(string text, bool latin1)
    {
        var bytes = new byte[text.Length];
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c < 0x80 || (latin1 ? c <= 0xFF : c is >= '\u00A0' and <= '\u00FF')) bytes[i] = (byte)c;
            else if (!latin1 && Windows1252High.IndexOf(c) is var k and >= 0) bytes[i] = (byte)(0x80 + k);
            else return null;
        }
        try { return StrictUtf8.GetString(bytes); }
        catch (DecoderFallbackException) { return null; }
    }

    /// <summary>ftfy <c>fix_c1_controls</c>: U+0080..U+009F read as sloppy Windows-1252.</summary>
    public static string FixC1Controls(string text) => Translate(text, c => c is >= '\u0080' and <= '\u009F' ? Windows1252High[c - 0x80].ToString() : null);

    private static readonly Dictionary<char, string> Ligatures = new()
    {
        ['\u0132'] = "IJ", ['\u0133'] = "ij", ['\u0149'] = "\u02BCn",
        ['\u01F1'] = "DZ", ['\u01F2'] = "Dz", ['\u01F3'] = "dz",
        ['\u01C4'] = "D\u017D", ['\u01C5'] = "D\u017E", ['\u01C6'] = "d\u017E",
        ['\u01C7'] = "LJ", ['\u01C8'] = "Lj", ['\u01C9'] = "lj",
        ['\u01CA'] = "NJ", ['\u01CB'] = "Nj", ['\u01CC'] = "nj",
        ['\uFB00'] = "ff", ['\uFB01'] = "fi", ['\uFB02'] = "fl", ['\uFB03'] = "ffi", ['\uFB04'] = "ffl",
        ['\uFB05'] = "\u017Ft", ['\uFB06'] = "st",
    };

    /// <summary>ftfy <c>fix_latin_ligatures</c>.</summary>
    public static string FixLatinLigatures(string text) => Translate(text, c => Ligatures.GetValueOrDefault(c));

    /// <summary>ftfy <c>fix_character_width</c>: U+3000 → space, U+FF01..U+FFEF → their NFKC form.</summary>
    public static string FixCharacterWidth(string text) => Translate(text, c =>
    {
        if (c == '\u3000') return " ";
        if (c is < '\uFF01' or > '\uFFEF') return null;
        var s = c.ToString();
        var k = s.Normalize(NormalizationForm.FormKC);
        return k == s ? null : k;
    });

    /// <summary>ftfy <c>uncurl_quotes</c>: U+02BC, U+2018..U+201B → ', U+201C..U+201F → ".</summary>
    public static string UncurlQuotes(string text) => Translate(text, c => c switch
    {
        '\u02BC' or >= '\u2018' and <= '\u201B' => "'",
        >= '\u201C' and <= '\u201F' => "\"",
        _ => null,
    });

    /// <summary>ftfy <c>fix_line_breaks</c>.</summary>
    public static string FixLineBreaks(string text) =>
        text.Replace("\r\n", "\n").Replace('\r', '\n').Replace('\u2028', '\n').Replace('\u2029', '\n').Replace('\u0085', '\n');

    /// <summary>ftfy <c>fix_surrogates</c>: surrogate pairs are already joined in UTF-16; lone surrogates become U+FFFD.</summary>
    public static string FixSurrogates(string text)
    {
        StringBuilder? sb = null;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                sb?.Append(c).Append(text[i + 1]);
                i++;
                continue;
            }
            if (char.IsSurrogate(c))
            {
                sb ??= new StringBuilder(text, 0, i, text.Length);
                sb.Append('\uFFFD');
            }
            else sb?.Append(c);
        }
        return sb?.ToString() ?? text;
    }

    private static readonly Regex AnsiEscape = new(@"\u001B\[((?:\d|;)*)([a-zA-Z])", RegexOptions.CultureInvariant);

    /// <summary>ftfy <c>remove_terminal_escapes</c>.</summary>
    public static string RemoveTerminalEscapes(string text) => text.Contains('\u001B') ? AnsiEscape.Replace(text, "") : text;

    /// <summary>ftfy <c>remove_control_chars</c>: C0 controls except \t \n \f \r, DEL, U+206A..U+206F, BOM, U+FFF9..U+FFFC.</summary>
    public static string RemoveControlChars(string text) => Translate(text, c =>
        c is <= '\u0008' or '\u000B' or >= '\u000E' and <= '\u001F' or '\u007F' or >= '\u206A' and <= '\u206F' or '\uFEFF'
            or >= '\uFFF9' and <= '\uFFFC' ? "" : null);

    // Python str.translate over UTF-16 code units (every mapped character is in the BMP, so this is equivalent).
    private static string Translate(string text, Func<char, string?> map)
    {
        StringBuilder? sb = null;
        for (int i = 0; i < text.Length; i++)
        {
            var r = map(text[i]);
            if (r != null)
            {
                sb ??= new StringBuilder(text, 0, i, text.Length + 8);
                sb.Append(r);
            }
            else sb?.Append(text[i]);
        }
        return sb?.ToString() ?? text;
    }
}
