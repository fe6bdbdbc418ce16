using System.Text.RegularExpressions;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;

namespace SonicDiffusion.Studio;

/// <summary>One bundled sample sound: a server-made id, a display name, its detected format and length.</summary>
public sealed record StudioSample(string Id, string Name, string Format, string ContentType, double DurationSeconds, long Bytes)
{
    internal string FilePath { get; init; } = "";
}

/// <summary>
/// The sample sounds offered on the page: the audio files (by content) at the top of one folder, read once at start.
/// Clients name a sample by its id, which is only ever looked up in this list, never joined into a path.
/// </summary>
public sealed partial class SampleLibrary
{
    private readonly Dictionary<string, StudioSample> _byId = new(StringComparer.Ordinal);

    public SampleLibrary(string? directory, long sizeLimit, Action<string>? log = null)
    {
        if (string.IsNullOrEmpty(directory) || !Directory.Exists(directory)) return;
        var list = new List<StudioSample>();
        foreach (var path in Directory.EnumerateFiles(directory).Order(StringComparer.Ordinal).Take(500))
        {
            var info = new FileInfo(path);
            if (info.Length == 0 || info.Length > sizeLimit) continue;
            byte[] head = new byte[Math.Min(info.Length, 1 << 20)];
            using (var f = File.OpenRead(path)) f.ReadExactly(head);
            var format = AudioReader.Detect(head, out _);
            if (format == AudioFileFormat.Unknown) continue;
            AudioClip clip;
            try { clip = AudioReader.Read(path); }
            catch (SonicException e) { log?.Invoke($"sample skipped: {e.Message}"); continue; }
            var name = Path.GetFileNameWithoutExtension(path);
            var id = UniqueId(Slug(name));
            var sample = new StudioSample(id, name.Replace('_', ' ').Replace('-', ' '), format.ToString(), ContentType(format),
                Math.Round(clip.DurationSeconds, 2), info.Length) { FilePath = path };
            _byId[id] = sample;
            list.Add(sample);
        }
        Samples = list;
    }

    public IReadOnlyList<StudioSample> Samples { get; } = Array.Empty<StudioSample>();

    public StudioSample? Find(string id) => _byId.GetValueOrDefault(id);

    public byte[] ReadBytes(StudioSample sample) => File.ReadAllBytes(sample.FilePath);

    private string UniqueId(string slug)
    {
        if (slug.Length == 0) slug = "sample";
        var id = slug;
        for (int i = 2; _byId.ContainsKey(id); i++) id = $"{slug}-{i}";
        return id;
    }

    private static string Slug(string name) => NonSlug().Replace(name.ToLowerInvariant(), "-").Trim('-');

    private static string ContentType(AudioFileFormat f) => f switch
    {
        AudioFileFormat.Wav => "audio/wav",
        AudioFileFormat.Flac => "audio/flac",
        AudioFileFormat.Mp3 => "audio/mpeg",
        AudioFileFormat.OggVorbis => "audio/ogg",
        _ => "application/octet-stream",
    };

    [GeneratedRegex("[^a-z0-9]+")]
    private static partial Regex NonSlug();
}
