using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Imaging;

namespace SonicDiffusion.Data;

/// <summary>
/// What <see cref="DatasetCheck.Run"/> found: every problem (unparsable rows, missing, unreadable or corrupt audio and
/// image files; all rows are checked, not only up to the first bad one) and the class balance of the good rows per split.
/// </summary>
public sealed record DatasetCheckReport(
    string Manifest,
    int Rows,
    int GoodRows,
    IReadOnlyList<ManifestIssue> Problems,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, int>> ClassCounts)
{
    public bool Ok => Problems.Count == 0;
}

/// <summary>Checks a dataset manifest's rows and files (<c>sonic data check</c>).</summary>
public static class DatasetCheck
{
    /// <summary>Decodes every row's audio and image (in parallel); a row is good when both read and the audio has finite samples.</summary>
    public static DatasetCheckReport Run(DatasetManifest manifest, int threads = 2, IProgress<ProgressInfo>? progress = null, CancellationToken cancel = default)
    {
        var rows = manifest.Rows;
        var problems = new List<ManifestIssue>[rows.Count];
        int done = 0;
        var gate = new object();
        Parallel.For(0, rows.Count, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, threads), CancellationToken = cancel }, i =>
        {
            var list = new List<ManifestIssue>();
            var row = rows[i];
            void Bad(string m) => list.Add(new ManifestIssue(manifest.FilePath, row.Line, m));
            string audio = manifest.AudioPath(row), image = manifest.ImagePath(row);
            if (!File.Exists(audio)) Bad($"audio file missing: {row.Audio}");
            else
            {
                try
                {
                    var clip = AudioReader.Read(audio);
                    if (clip.FrameCount == 0) Bad($"audio has no samples: {row.Audio}");
                    else if (clip.Channels.Any(c => c.Any(x => !float.IsFinite(x)))) Bad($"audio holds NaN or infinite samples: {row.Audio}");
                }
                catch (Exception e) when (e is SonicException or IOException or InvalidDataException) { Bad($"audio unreadable: {OneLine(e.Message)}"); }
            }
            if (!File.Exists(image)) Bad($"image file missing: {row.Image}");
            else
            {
                try { using var t = ImageTensor.Load(image); }
                catch (Exception e) when (e is SonicException or IOException or InvalidDataException) { Bad($"image unreadable: {OneLine(e.Message)}"); }
            }
            problems[i] = list;
            int n = Interlocked.Increment(ref done);
            if (progress != null) lock (gate) progress.Report(new ProgressInfo("check", n, rows.Count));
        });
        var all = manifest.Issues.Concat(problems.SelectMany(p => p)).OrderBy(p => p.Line).ToList();
        var good = Enumerable.Range(0, rows.Count).Where(i => problems[i].Count == 0).Select(i => rows[i]).ToList();
        var counts = good.GroupBy(r => r.Split, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => (IReadOnlyDictionary<string, int>)g.GroupBy(r => r.Label, StringComparer.Ordinal)
                .OrderBy(x => x.Key, StringComparer.Ordinal).ToDictionary(x => x.Key, x => x.Count(), StringComparer.Ordinal), StringComparer.Ordinal);
        return new DatasetCheckReport(manifest.FilePath, rows.Count + manifest.Issues.Count, good.Count, all, counts);
    }

    private static string OneLine(string s) => s.Split('\n')[0].Trim();
}
