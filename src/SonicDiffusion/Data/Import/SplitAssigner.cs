using System.Security.Cryptography;
using System.Text;
using SonicDiffusion.Core;

namespace SonicDiffusion.Data.Import;

/// <summary>
/// Gives each clip its split: from the official split files when any are given (a clip they do not list is left
/// out), else from a train/val/test folder in its path, else from a hash of its group, so the same group always lands
/// in the same split whatever else is imported.
/// </summary>
public sealed class SplitAssigner
{
    private readonly Dictionary<string, string>? _official;
    private readonly double _val, _test;

    public SplitAssigner(IReadOnlyList<string> splitFiles, double valFraction, double testFraction)
    {
        if (!(valFraction >= 0) || !(testFraction >= 0) || valFraction + testFraction >= 1)
            throw new SonicException($"--val {valFraction} --test {testFraction}: fractions must be at least 0 and sum to less than 1");
        _val = valFraction;
        _test = testFraction;
        if (splitFiles.Count > 0)
        {
            _official = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var f in splitFiles) ReadSplitFile(f, _official);
        }
    }

    public bool HasOfficial => _official != null;

    /// <summary>The clip's split, or null when official split files are given and do not list it.</summary>
    public string? Assign(ImportClip clip)
    {
        if (_official != null)
        {
            foreach (var key in new[] { clip.Id, clip.Group, Path.GetFileNameWithoutExtension(clip.RelativeSource) })
                if (_official.TryGetValue(key, out var s)) return s;
            return null;
        }
        return clip.PathSplit ?? HashSplit(clip.Group);
    }

    /// <summary>A deterministic split from SHA-256 of the key: test below the test fraction, then val, else train.</summary>
    public string HashSplit(string key)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(key));
        double u = BitConverter.ToUInt64(hash, 0) / 18446744073709551616.0;
        return u < _test ? "test" : u < _test + _val ? "val" : "train";
    }

    /// <summary>
    /// Lines "name,split" (comma, tab or spaces), or one name per line when the file's name says train, val or test
    /// (e.g. audio_train_landscape.txt). A name may be a path; its file name without extension is the key.
    /// </summary>
    private static void ReadSplitFile(string path, Dictionary<string, string> into)
    {
        if (!File.Exists(path)) throw new SonicException($"{path}: split file not found");
        var fileSplit = Path.GetFileNameWithoutExtension(path).Split(['_', '-', '.', ' '], StringSplitOptions.RemoveEmptyEntries)
            .Select(SourceTree.SplitName).Where(s => s != null).Distinct().ToList();
        var lines = File.ReadAllLines(path);
        for (int i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var fields = line.Split([',', '\t', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            string split;
            if (fields.Length == 2)
            {
                if (SourceTree.SplitName(fields[1]) is not { } named)
                {
                    if (i == 0) continue;
                    throw new SonicException($"{path}:{i + 1}: split '{fields[1]}' is not train, val or test");
                }
                split = named;
            }
            else if (fields.Length == 1)
            {
                if (fileSplit.Count != 1)
                    throw new SonicException($"{path}:{i + 1}: one name per line needs a file name that says train, val or test; else write 'name,split' lines");
                split = fileSplit[0]!;
            }
            else throw new SonicException($"{path}:{i + 1}: expected 'name,split' or one name per line, found '{line}'");
            var key = Path.GetFileNameWithoutExtension(fields[0].Replace('\\', '/').Split('/')[^1]);
            if (into.TryGetValue(key, out var earlier) && earlier != split)
                throw new SonicException($"{path}:{i + 1}: '{key}' is listed as {earlier} elsewhere and as {split} here");
            into[key] = split;
        }
    }
}
