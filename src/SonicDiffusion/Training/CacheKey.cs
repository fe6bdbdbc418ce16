using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using SonicDiffusion.Data;

namespace SonicDiffusion.Training;

/// <summary>
/// SHA-256 keys of preprocessing caches: a cache file is named after the key of everything it was computed from, so a
/// changed input (manifest row, image or audio file, encoder weights, preprocessing setting) gives a new key and the
/// stale file is simply not found.
/// </summary>
public sealed class CacheKey
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public CacheKey Add(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        _hash.AppendData(BitConverter.GetBytes(bytes.Length));
        _hash.AppendData(bytes);
        return this;
    }

    public CacheKey Add(long value) => Add(value.ToString(CultureInfo.InvariantCulture));

    /// <summary>Adds a file's full contents (encoder weights and configs).</summary>
    public CacheKey AddFileContents(string path)
    {
        using var fs = File.OpenRead(path);
        Add(Path.GetFileName(path));
        Add(fs.Length);
        var buffer = new byte[1 << 20];
        int n;
        while ((n = fs.Read(buffer)) > 0) _hash.AppendData(buffer, 0, n);
        return this;
    }

    /// <summary>Adds a data file's identity without reading it: path as written in the manifest, size and modification time.</summary>
    public CacheKey AddFileStamp(string manifestPath, string fullPath)
    {
        Add(manifestPath);
        var info = new FileInfo(fullPath);
        return info.Exists ? Add(info.Length).Add(info.LastWriteTimeUtc.Ticks) : Add(-1);
    }

    /// <summary>Adds the rows a cache covers: line, caption-independent columns and the stamp of the file it reads.</summary>
    public CacheKey AddRows(DatasetManifest manifest, IReadOnlyList<ManifestRow> rows, Func<ManifestRow, string> file)
    {
        Add(rows.Count);
        foreach (var r in rows) Add(r.Line).AddFileStamp(file(r), manifest.Resolve(file(r)));
        return this;
    }

    /// <summary>The key as 64 lowercase hex digits.</summary>
    public string Finish() => Convert.ToHexStringLower(_hash.GetHashAndReset());
}
