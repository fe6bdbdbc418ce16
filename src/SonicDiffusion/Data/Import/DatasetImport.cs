using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Data.World;

namespace SonicDiffusion.Data.Import;

/// <summary>
/// <c>sonic data import</c>: turns a downloaded video dataset into audio–image pairs and a manifest that
/// <c>sonic data check</c>, <c>cache</c> and <c>train</c> read. Per clip a mono 44.1 kHz WAV and K PNG frames, decoded by
/// FFmpeg on parallel workers; every output is written atomically and a finished clip is skipped when the import is run
/// again. A clip that cannot be used is listed in <c>import-report.txt</c> with its reason and never stops the others.
/// </summary>
public static partial class DatasetImport
{
    public const int SampleRate = 44100;
    public const string ReportName = "import-report.txt";
    /// <summary>Peak below which a clip's audio counts as silence (−80 dBFS).</summary>
    public const double SilencePeak = 1e-4;

    public static readonly IReadOnlyList<IDatasetImporter> Importers =
        [new LandscapeImporter(), new GreatestHitsImporter(), new RavdessImporter(), new FolderImporter()];

    public static IDatasetImporter Importer(string kind) => Importers.FirstOrDefault(i => i.Kind == kind)
        ?? throw new SonicException($"unknown dataset kind '{kind}' (expected {string.Join(", ", Importers.Select(i => i.Kind))})");

    public static ImportSummary Run(ImportOptions options, IProgress<ProgressInfo>? progress = null, CancellationToken cancel = default, Ffmpeg? ffmpeg = null)
    {
        var clock = Stopwatch.StartNew();
        var importer = Importer(options.Kind);
        double seconds = options.Seconds ?? importer.DefaultSeconds;
        Validate(options, seconds);
        var ff = ffmpeg ?? Ffmpeg.Locate();
        string src = Path.GetFullPath(options.Source), outDir = Path.GetFullPath(options.Output);
        if (!Directory.Exists(src)) throw new SonicException($"{options.Source}: source folder not found");
        var captions = options.Captions is { } c ? NameTable.Read(c, "caption", "text") : null;
        var splits = new SplitAssigner(options.SplitFiles, options.ValFraction, options.TestFraction);
        var settings = new ImportSettings
        {
            Kind = importer.Kind, Source = src, Frames = options.Frames, Frame0 = options.Frame0, Seconds = seconds,
            MinSeconds = options.MinSeconds, LabelBy = options.LabelBy,
        };

        var issues = new List<ImportIssue>();
        var planned = importer.Plan(options with { Source = src, Output = outDir }, issues);
        var clips = new List<(ImportClip Clip, string Split)>();
        foreach (var clip in planned)
        {
            if (splits.Assign(clip) is { } split) clips.Add((clip, split));
            else issues.Add(new ImportIssue(clip.RelativeSource, ImportProblem.NotInSplit, $"clip '{clip.Id}' is in none of the split files"));
        }
        if (clips.Count == 0)
            throw new SonicException(issues.Count > 0
                ? $"{options.Source}: no usable {importer.Kind} clips ({issues.Count} problem(s); first: {issues[0]})"
                : $"{options.Source}: no {importer.Kind} clips found (see docs/datasets.md for the expected layout)");
        CheckTemplate(options.CaptionTemplate, clips[0].Clip);
        PrepareOutput(outDir, settings);

        var records = new ClipRecord?[clips.Count];
        var failures = new ImportIssue?[clips.Count];
        bool[] resumed = new bool[clips.Count];
        int done = 0;
        var gate = new object();
        progress?.Report(new ProgressInfo("import", 0, clips.Count));
        Parallel.For(0, clips.Count, new ParallelOptions { MaxDegreeOfParallelism = options.Workers, CancellationToken = cancel }, i =>
        {
            var clip = clips[i].Clip;
            records[i] = Finished(outDir, clip.Id);
            resumed[i] = records[i] != null;
            if (records[i] is null)
            {
                try { records[i] = Decode(ff, clip, outDir, settings, cancel); }
                catch (ClipFailedException e) { failures[i] = new ImportIssue(clip.RelativeSource, e.Problem, $"{clip.Id}: {e.Message}"); }
                catch (Exception e) when (e is SonicException or IOException or InvalidDataException)
                {
                    failures[i] = new ImportIssue(clip.RelativeSource, ImportProblem.Unreadable, $"{clip.Id}: {OneLine(e.Message)}");
                }
            }
            int n = Interlocked.Increment(ref done);
            if (progress != null) lock (gate) progress.Report(new ProgressInfo("import", n, clips.Count, clip.Id));
        });
        issues.AddRange(failures.OfType<ImportIssue>());

        var rows = new List<ManifestRow>();
        int fromFile = 0;
        for (int i = 0; i < clips.Count; i++)
        {
            if (records[i] is not { } record) continue;
            var (clip, split) = clips[i];
            foreach (var (frame, k) in record.Frames.Select((f, k) => (f, k)))
            {
                string? caption = captions?.Find(Path.GetFileName(frame.Image), clip.Id + ".png", clip.Id, Path.GetFileName(clip.RelativeSource));
                if (caption != null) fromFile++;
                var extra = new Dictionary<string, JsonNode?>
                {
                    ["clip"] = clip.Id,
                    ["source"] = clip.RelativeSource,
                    ["start_s"] = Math.Round(clip.Start, 6),
                    ["audio_s"] = Math.Round(record.AudioSeconds, 6),
                };
                if (frame.TimeSeconds is { } t) extra["frame_time_s"] = Math.Round(t, 6);
                if (record.Frames.Count > 1) extra["frame"] = k;
                foreach (var (key, value) in clip.Extra) extra[key] = value?.DeepClone();
                rows.Add(new ManifestRow
                {
                    Audio = record.Audio, Image = frame.Image, Caption = caption ?? FillTemplate(options.CaptionTemplate, clip),
                    Label = clip.Label, Split = split, Extra = extra,
                });
            }
        }
        string manifest = Path.Combine(outDir, WorldGenerator.ManifestName), report = Path.Combine(outDir, ReportName);
        DatasetManifest.Write(manifest, rows);
        var summary = new ImportSummary
        {
            ManifestPath = manifest,
            ReportPath = report,
            Planned = clips.Count,
            Imported = records.Where((r, i) => r != null && !resumed[i]).Count(),
            Resumed = resumed.Count(r => r),
            Rows = rows.Count,
            CaptionsFromFile = fromFile,
            Issues = issues,
            SplitCounts = ManifestRow.Splits.ToDictionary(s => s, s => rows.Count(r => r.Split == s)),
            Elapsed = clock.Elapsed,
        };
        WriteReport(report, importer.Kind, options.Source, summary);
        return summary;
    }

    private static void Validate(ImportOptions o, double seconds)
    {
        if (o.Frames < 1) throw new SonicException($"--frames {o.Frames}: must be at least 1");
        if (!(seconds > 0) || !double.IsFinite(seconds)) throw new SonicException($"--seconds {seconds}: must be a positive number");
        if (!(o.MinSeconds >= 0) || o.MinSeconds > seconds) throw new SonicException($"--min-seconds {o.MinSeconds}: must be between 0 and --seconds ({seconds})");
        if (o.Workers < 1) throw new SonicException($"--workers {o.Workers}: must be at least 1");
    }

    /// <summary>The output folder is new, empty, or an earlier import of the same dataset with the same settings (then resumed).</summary>
    private static void PrepareOutput(string dir, ImportSettings settings)
    {
        if (File.Exists(dir)) throw new SonicException($"{dir}: exists and is a file, expected a folder");
        string file = Path.Combine(dir, ImportSettings.FileName);
        if (Directory.Exists(dir) && Directory.EnumerateFileSystemEntries(dir).Any())
        {
            if (!File.Exists(file)) throw new SonicException($"{dir}: folder is not empty and holds no {ImportSettings.FileName}; choose a new or empty folder");
            var earlier = ConfigJson.Read<ImportSettings>(file);
            if (earlier != settings)
                throw new SonicException($"{dir}: was imported with other settings ({Differences(earlier, settings)}); use the same options to resume, or a new --out");
        }
        Directory.CreateDirectory(Path.Combine(dir, "audio"));
        Directory.CreateDirectory(Path.Combine(dir, "images"));
        Directory.CreateDirectory(Path.Combine(dir, "clips"));
        ConfigJson.Write(file, settings);
    }

    private static string Differences(ImportSettings a, ImportSettings b)
    {
        var diffs = new List<string>();
        if (a.Kind != b.Kind) diffs.Add($"kind {a.Kind}");
        if (a.Source != b.Source) diffs.Add($"--src {a.Source}");
        if (a.Frames != b.Frames) diffs.Add($"--frames {a.Frames}");
        if (a.Frame0 != b.Frame0) diffs.Add(a.Frame0 ? "--frame0" : "no --frame0");
        if (a.Seconds != b.Seconds) diffs.Add($"--seconds {a.Seconds.ToString(CultureInfo.InvariantCulture)}");
        if (a.MinSeconds != b.MinSeconds) diffs.Add($"--min-seconds {a.MinSeconds.ToString(CultureInfo.InvariantCulture)}");
        if (a.LabelBy != b.LabelBy) diffs.Add($"--label-by {a.LabelBy}");
        return string.Join(", ", diffs);
    }

    private static ClipRecord? Finished(string outDir, string id)
    {
        string path = Path.Combine(outDir, "clips", id + ".json");
        if (!File.Exists(path)) return null;
        ClipRecord record;
        try { record = ConfigJson.Read<ClipRecord>(path); }
        catch (SonicException) { return null; }
        bool complete = File.Exists(Path.Combine(outDir, record.Audio)) && record.Frames.All(f => File.Exists(Path.Combine(outDir, f.Image)));
        return complete ? record : null;
    }

    /// <summary>The PNG name of frame <paramref name="k"/>: &lt;id&gt;.png for one frame, &lt;id&gt;_k.png for several, &lt;id&gt;_frame{k}.png with --frame0.</summary>
    public static string ImageName(string id, int k, int frames, bool frame0) =>
        frame0 ? $"{id}_frame{k}.png" : frames == 1 ? $"{id}.png" : $"{id}_{k}.png";

    private static ClipRecord Decode(Ffmpeg ff, ImportClip clip, string outDir, ImportSettings s, CancellationToken cancel)
    {
        var info = ff.Probe(clip.Source, cancel);
        if (!info.HasAudio) throw new ClipFailedException(ImportProblem.NoAudio, "the file has no audio track");
        if (clip.Image is null && !info.HasVideo) throw new ClipFailedException(ImportProblem.NoImage, "the file has no video track");
        if (info.DurationSeconds is { } length && clip.Start >= length)
            throw new ClipFailedException(ImportProblem.TooShort, $"starts at {clip.Start:0.###} s, after the end of the file ({length:0.###} s)");

        var raw = ff.ReadAudio(clip.Source, clip.Start, s.Seconds, info.AudioChannels!.Value, info.AudioSampleRate ?? SampleRate, cancel);
        var audio = Resampler.Resample(raw.Mono(), SampleRate);
        double got = audio.DurationSeconds;
        if (got < s.MinSeconds || audio.FrameCount == 0)
            throw new ClipFailedException(ImportProblem.TooShort, $"{got:0.###} s of audio from {clip.Start:0.###} s, less than --min-seconds {s.MinSeconds.ToString(CultureInfo.InvariantCulture)}");
        var samples = audio.Channels[0];
        if (samples.Any(x => !float.IsFinite(x))) throw new ClipFailedException(ImportProblem.Unreadable, "the decoded audio holds NaN or infinite samples");
        float peak = samples.Max(MathF.Abs);
        if (peak < SilencePeak) throw new ClipFailedException(ImportProblem.Silent, $"the audio is silent (peak {(peak > 0 ? 20 * Math.Log10(peak) : double.NegativeInfinity):0} dBFS)");

        var frames = new List<(ClipRecord.FrameRecord Record, byte[] Png)>();
        if (clip.Image is { } image)
        {
            var png = ff.ReadFramePng(image, 0, cancel);
            if (png.Length == 0) throw new ClipFailedException(ImportProblem.NoImage, $"{Path.GetFileName(image)} gives no picture");
            frames.Add((new ClipRecord.FrameRecord("images/" + ImageName(clip.Id, 0, 1, s.Frame0), null), png));
        }
        else
        {
            foreach (var (k, seek, time) in FrameTimes(info, clip.Start, got, s.Frames, s.Frame0))
            {
                var png = ff.ReadFramePng(clip.Source, seek, cancel);
                if (png.Length == 0) throw new ClipFailedException(ImportProblem.TooShort, $"no video frame at {time:0.###} s");
                frames.Add((new ClipRecord.FrameRecord("images/" + ImageName(clip.Id, k, s.Frames, s.Frame0), time), png));
            }
        }
        foreach (var (record, png) in frames) WorldGenerator.WriteAtomic(Path.Combine(outDir, record.Image), png);
        string wav = $"audio/{clip.Id}.wav";
        WavWriter.WritePcm16(Path.Combine(outDir, wav), audio);
        var result = new ClipRecord { Audio = wav, AudioSeconds = got, Frames = frames.Select(f => f.Record).ToList() };
        ConfigJson.Write(Path.Combine(outDir, "clips", clip.Id + ".json"), result);
        return result;
    }

    /// <summary>
    /// Where to seek for each of the clip's <paramref name="count"/> frames, and the frame's time: the centres of equal
    /// parts of the window (or their starts with <paramref name="frame0"/>), snapped to whole frames. ffmpeg returns the
    /// first frame at or after a seek time, so a frame is asked for half a frame early.
    /// </summary>
    public static IEnumerable<(int Index, double Seek, double Time)> FrameTimes(MediaInfo info, double start, double length, int count, bool frame0)
    {
        double Target(int k) => start + (frame0 ? k : k + 0.5) * length / count;
        if (info.FramesPerSecond is not { } fps)
        {
            for (int k = 0; k < count; k++) yield return (k, Target(k), Target(k));
            yield break;
        }
        long first = (long)Math.Ceiling(start * fps - 1e-6), end = (long)Math.Ceiling((start + length) * fps - 1e-6);
        if (info.VideoFrames is { } n) end = Math.Min(end, n);
        if (end - first < count)
            throw new ClipFailedException(ImportProblem.TooShort, $"the clip holds {Math.Max(0, end - first)} video frame(s), fewer than --frames {count}");
        for (int k = 0; k < count; k++)
        {
            long frame = Math.Clamp((long)Math.Floor(Target(k) * fps + 1e-6), first, end - 1);
            yield return (k, Math.Max(0, (frame - 0.5) / fps), frame / fps);
        }
    }

    [GeneratedRegex(@"\{([A-Za-z0-9_]+)\}")]
    private static partial Regex Placeholder();

    private static void CheckTemplate(string template, ImportClip sample)
    {
        foreach (Match m in Placeholder().Matches(template))
        {
            string key = m.Groups[1].Value;
            if (key != "label" && !sample.Extra.ContainsKey(key))
                throw new SonicException($"--caption-template: {{{key}}} is not a column of these clips (use {{label}}{string.Concat(sample.Extra.Keys.Select(k => $", {{{k}}}"))})");
        }
    }

    /// <summary>The template with {label} and the clip's extra columns filled in.</summary>
    public static string FillTemplate(string template, ImportClip clip) => Placeholder().Replace(template, m =>
    {
        string key = m.Groups[1].Value;
        if (key == "label") return clip.Label;
        return clip.Extra.TryGetValue(key, out var v) && v is not null
            ? v is JsonValue jv && jv.TryGetValue(out string? s) ? s : v.ToJsonString()
            : m.Value;
    });

    private static void WriteReport(string path, string kind, string source, ImportSummary summary)
    {
        var sb = new StringBuilder();
        sb.Append("sonic data import ").Append(kind).Append(' ').Append(source).Append(": ").Append(summary.Describe()).Append('\n');
        foreach (var issue in summary.Issues) sb.Append(issue).Append('\n');
        WorldGenerator.WriteAtomic(path, new UTF8Encoding(false).GetBytes(sb.ToString()));
    }

    private static string OneLine(string s) => s.Split('\n')[0].Trim();
}
