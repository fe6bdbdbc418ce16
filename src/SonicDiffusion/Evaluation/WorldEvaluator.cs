using System.Diagnostics;
using System.Globalization;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Data.World;
using SonicDiffusion.Imaging;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// <c>sonic eval</c>: generates images from held-out sounds with <see cref="AudioToImagePipeline"/> and measures them with
/// a <see cref="WorldClassifier"/> — AIC, IIS, FID-proxy (with its real-vs-real baseline), intensity → visual magnitude
/// Spearman ρ, a β sweep and a guidance sweep — then writes report.json, report.md, plots and a sample grid. A manifest
/// without images (audio + label only) gives the figures that need no paired image; the report lists the skipped ones.
/// </summary>
public sealed class WorldEvaluator(SonicDiffusionModel model, WorldClassifier classifier, EvaluationOptions options)
{
    public const string JsonFile = "report.json";
    public const string MarkdownFile = "report.md";
    public const string SamplesFile = "samples.png";

    internal sealed record Prediction(int Class, double Magnitude, double[] Features, double Luminance);

    private readonly AudioToImagePipeline _pipeline = new(model);
    private readonly Dictionary<(int Line, double Beta, double Guidance), Prediction> _generated = [];
    private readonly Dictionary<int, Prediction> _real = [];
    private readonly Dictionary<int, Tensor> _gridImages = [];
    private readonly List<double> _secondsPerImage = [];
    private DatasetManifest _manifest = null!;

    public EvaluationOptions Options { get; } = options.Validate();

    /// <summary>Where the classifier came from (shown in the report).</summary>
    public string ClassifierSource { get; init; } = "";

    /// <summary>Reads the rows an evaluation needs: audio and label are required, image/caption/split optional.</summary>
    public static DatasetManifest ReadManifest(string path) => DatasetManifest.Read(path, ["audio", "label"]);

    public EvaluationReport Run(DatasetManifest manifest, string outDir, IProgress<ProgressInfo>? progress = null, Action<string>? log = null, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        _manifest = manifest;
        var notes = new List<string>();
        var skipped = new List<SkippedFigure>();
        void Note(string s) { notes.Add(s); log?.Invoke(s); }

        var (rows, split) = SelectRows(manifest, Note);
        var main = rows.Take(Options.Count).ToList();
        var reserve = rows.Skip(main.Count).Where(HasImage).ToList();
        if (main.Count < Options.Count) Note($"split '{split}' has {main.Count} usable rows; evaluating all of them (asked for {Options.Count})");
        var sweepRows = main.Take(Math.Min(Options.SweepCount, main.Count)).ToList();

        int size = Options.Size ?? (model.Sd.Unet.Config.SampleSize ?? 64) * model.Sd.VaeScaleFactor;
        double beta = Options.Beta ?? model.Adapters.Config.Beta;
        bool hasImages = main.Any(HasImage);
        bool hasIntensity = main.Any(r => r.Number("intensity") is not null);
        if (!hasImages)
        {
            skipped.Add(new("IIS", "the manifest's rows have no image files, so there is no paired real image to compare with"));
            skipped.Add(new("FID-proxy", "the manifest's rows have no image files, so there are no real features"));
            skipped.Add(new("classifier accuracy and ρ on real images", "no image files"));
        }
        else if (main.Count(HasImage) < 2 || reserve.Count < 2)
            skipped.Add(new("FID-proxy", $"needs at least 2 paired real images and 2 other real images of split '{split}' (has {main.Count(HasImage)} and {reserve.Count})"));
        if (!hasIntensity) skipped.Add(new("intensity → visual magnitude ρ", "the manifest has no 'intensity' column"));
        if (main.Count(HasImage) is > 0 and var k && k < main.Count) Note($"{main.Count - k} of {main.Count} rows have no image file; IIS and FID use the other {k}");

        int total = main.Count + (Options.Betas.Count + Options.Guidances.Count) * sweepRows.Count;
        int done = 0;
        progress?.Report(new ProgressInfo("eval", 0, total));
        void Step() => progress?.Report(new ProgressInfo("eval", ++done, total));

        var mainMetrics = Measure(main, reserve, beta, Options.Guidance, size, keepForGrid: true, Step, ct);
        IReadOnlyList<double> sweepBetas = sweepRows.Count == 0 ? [] : Options.Betas;
        IReadOnlyList<double> sweepGuidances = sweepRows.Count == 0 ? [] : Options.Guidances;
        var betaSweep = sweepBetas.Select(b => new SweepPoint(b, Options.Guidance, Measure(sweepRows, reserve, b, Options.Guidance, size, false, Step, ct))).ToList();
        var guidanceSweep = sweepGuidances.Select(g => new SweepPoint(beta, g, Measure(sweepRows, reserve, beta, g, size, false, Step, ct))).ToList();
        progress?.Report(new ProgressInfo("eval", total, total));

        Directory.CreateDirectory(outDir);
        var files = new List<string>();
        var samples = main.Select((r, i) =>
        {
            var p = _generated[(r.Line, beta, Options.Guidance)];
            var real = HasImage(r) ? RealPrediction(r) : null;
            double? iis = real is null ? null : Cosine(p.Features, real.Features);
            return new SampleResult(r.Audio, r.Label, classifier.Config.Labels[p.Class], Options.Seed + i, r.Number("intensity"), p.Magnitude, iis, real?.Magnitude,
                p.Luminance, real?.Luminance, r.Text(WorldGenerator.TimeOfDayColumn));
        }).ToList();
        if (WriteGrid(main, beta, size, Path.Combine(outDir, SamplesFile))) files.Add(SamplesFile);
        files.AddRange(EvaluationPlots.Write(outDir, mainMetrics, betaSweep, guidanceSweep, samples, beta, Options.Guidance));

        var report = new EvaluationReport
        {
            Model = model.Source, Classifier = ClassifierSource, Manifest = manifest.FilePath, Split = split, Options = Options,
            Beta = beta, Size = size, HasImages = hasImages, HasIntensity = hasIntensity, Main = mainMetrics,
            BetaSweep = betaSweep, GuidanceSweep = guidanceSweep, Skipped = skipped, Notes = notes,
            Files = [JsonFile, MarkdownFile, .. files], Samples = samples, ElapsedSeconds = clock.Elapsed.TotalSeconds,
        };
        File.WriteAllText(Path.Combine(outDir, JsonFile), report.ToJson());
        File.WriteAllText(Path.Combine(outDir, MarkdownFile), report.ToMarkdown());
        foreach (var t in _gridImages.Values) t.Dispose();
        _gridImages.Clear();
        _pipeline.ClearCache();
        return report;
    }

    private bool HasImage(ManifestRow r) => r.Image.Length > 0 && File.Exists(_manifest.ImagePath(r));

    /// <summary>Rows of the split with a known label and an existing sound, stratified by class (round-robin in label order).</summary>
    private (List<ManifestRow> Rows, string Split) SelectRows(DatasetManifest manifest, Action<string> note) =>
        HeldOutRows(manifest, classifier.Config, Options.Split, note, Options.Where);

    /// <summary>Rows of <paramref name="split"/> with a label the classifier knows and an existing sound, round-robin by class (all rows when the manifest has no split column).</summary>
    public static (List<ManifestRow> Rows, string Split) HeldOutRows(DatasetManifest manifest, WorldClassifierConfig classes, string split, Action<string> note,
        IReadOnlyList<string>? where = null)
    {
        if (manifest.Issues.Count > 0) note($"skipped {manifest.Issues.Count} bad manifest row(s) (first: {manifest.Issues[0]})");
        var candidates = manifest.Rows.Where(r => r.Split == split).ToList();
        if (candidates.Count == 0 && manifest.Rows.Count > 0 && manifest.Rows.All(r => r.Split.Length == 0))
        {
            candidates = manifest.Rows.ToList();
            split = "(all rows: the manifest has no split column)";
        }
        if (candidates.Count == 0) throw new SonicException($"{manifest.FilePath}: no rows in split '{split}' (use --split)");
        foreach (var condition in where ?? [])
        {
            int eq = condition.IndexOf('=');
            string key = condition[..eq], value = condition[(eq + 1)..];
            candidates = candidates.Where(r => string.Equals(r.Text(key), value, StringComparison.OrdinalIgnoreCase)).ToList();
            split += $" where {condition}";
            if (candidates.Count == 0) throw new SonicException($"{manifest.FilePath}: no rows in split '{split}' (is '{key}' a column of the manifest?)");
        }
        var unknown = candidates.Where(r => classes.LabelIndex(r.Label) < 0).ToList();
        if (unknown.Count > 0) note($"{unknown.Count} row(s) have labels the classifier does not know (first: '{unknown[0].Label}', line {unknown[0].Line}); left out");
        var missing = candidates.Where(r => classes.LabelIndex(r.Label) >= 0 && !File.Exists(manifest.AudioPath(r))).ToList();
        if (missing.Count > 0) note($"{missing.Count} row(s) name a sound file that does not exist (first: {manifest.AudioPath(missing[0])}); left out");
        var usable = candidates.Where(r => classes.LabelIndex(r.Label) >= 0 && File.Exists(manifest.AudioPath(r))).ToList();
        if (usable.Count == 0) throw new SonicException($"{manifest.FilePath}: no usable rows in split '{split}' (labels known to the classifier: {string.Join(", ", classes.Labels)})");
        var queues = usable.GroupBy(r => classes.LabelIndex(r.Label)).OrderBy(g => g.Key).Select(g => new Queue<ManifestRow>(g)).ToList();
        var ordered = new List<ManifestRow>(usable.Count);
        while (ordered.Count < usable.Count)
            foreach (var q in queues)
                if (q.Count > 0) ordered.Add(q.Dequeue());
        return (ordered, split);
    }

    private SetMetrics Measure(List<ManifestRow> rows, List<ManifestRow> reserve, double beta, double guidance, int size, bool keepForGrid, Action step, CancellationToken ct)
    {
        var preds = new List<Prediction>(rows.Count);
        var seconds = new List<double>();
        for (int i = 0; i < rows.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var key = (rows[i].Line, beta, guidance);
            if (!_generated.TryGetValue(key, out var p))
            {
                var sw = Stopwatch.StartNew();
                p = Generate(rows[i], Options.Seed + i, beta, guidance, size, keepForGrid);
                seconds.Add(sw.Elapsed.TotalSeconds);
                _generated[key] = p;
            }
            preds.Add(p);
            step();
        }
        var labels = rows.Select(r => classifier.Config.LabelIndex(r.Label)).ToList();
        var perClass = labels.Distinct().Order().ToDictionary(l => classifier.Config.Labels[l],
            l => Enumerable.Range(0, rows.Count).Where(i => labels[i] == l).Average(i => preds[i].Class == l ? 1.0 : 0.0));
        var withImage = Enumerable.Range(0, rows.Count).Where(i => HasImage(rows[i])).ToList();
        var real = withImage.ToDictionary(i => i, i => RealPrediction(rows[i]));
        var withIntensity = Enumerable.Range(0, rows.Count).Where(i => rows[i].Number("intensity") is not null).ToList();

        double? fid = null, baseline = null;
        int fidCount = Math.Min(withImage.Count, reserve.Count);
        if (fidCount >= 2)
        {
            var other = reserve.Take(fidCount).Select(r => RealPrediction(r).Features).ToList();
            var gen = withImage.Take(fidCount).Select(i => preds[i].Features).ToList();
            var paired = withImage.Take(fidCount).Select(i => real[i].Features).ToList();
            fid = FrechetDistance.Compute(gen, other);
            baseline = FrechetDistance.Compute(paired, other);
        }
        else fidCount = 0;

        return new SetMetrics
        {
            Count = rows.Count,
            Aic = Enumerable.Range(0, rows.Count).Average(i => preds[i].Class == labels[i] ? 1.0 : 0.0),
            AicPerClass = perClass,
            Iis = withImage.Count > 0 ? withImage.Average(i => Cosine(preds[i].Features, real[i].Features)) : null,
            IisCount = withImage.Count,
            Fid = fid, FidRealBaseline = baseline, FidCount = fidCount,
            IntensitySpearman = Finite(Spearman.Rho(withIntensity.Select(i => rows[i].Number("intensity")!.Value).ToList(), withIntensity.Select(i => preds[i].Magnitude).ToList())),
            RealIntensitySpearman = withImage.Count == 0 ? null : Finite(Spearman.Rho(
                withIntensity.Where(real.ContainsKey).Select(i => rows[i].Number("intensity")!.Value).ToList(),
                withIntensity.Where(real.ContainsKey).Select(i => real[i].Magnitude).ToList())),
            RealAccuracy = withImage.Count > 0 ? withImage.Average(i => real[i].Class == labels[i] ? 1.0 : 0.0) : null,
            MeanLuminance = preds.Average(q => q.Luminance),
            RealMeanLuminance = withImage.Count > 0 ? withImage.Average(i => real[i].Luminance) : null,
            LuminanceByTimeOfDay = Enumerable.Range(0, rows.Count).Select(i => (i, Time: rows[i].Text(WorldGenerator.TimeOfDayColumn))).Where(x => x.Time is not null)
                .GroupBy(x => x.Time!, x => x.i, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => new LuminanceGroup(g.Key, g.Count(), g.Average(i => preds[i].Luminance),
                    g.Any(real.ContainsKey) ? g.Where(real.ContainsKey).Average(i => real[i].Luminance) : null)).ToList(),
            SecondsPerImage = seconds.Count > 0 ? seconds.Average() : _secondsPerImage.DefaultIfEmpty(0).Average(),
        };
    }

    private static double? Finite(double v) => double.IsFinite(v) ? v : null;

    private Prediction Generate(ManifestRow row, long seed, double beta, double guidance, int size, bool keep)
    {
        var req = Request(_manifest, Options, row, seed, beta, guidance, size);
        var sw = Stopwatch.StartNew();
        using var image = _pipeline.Generate(req);
        var p = Classify(classifier, image);
        _secondsPerImage.Add(sw.Elapsed.TotalSeconds);
        if (keep) _gridImages[row.Line] = image.detach().clone();
        return p;
    }

    /// <summary>The generation request of one evaluated sample.</summary>
    internal static AudioToImageRequest Request(DatasetManifest manifest, EvaluationOptions options, ManifestRow row, long seed, double beta, double guidance, int size) => new()
    {
        Audio = manifest.AudioPath(row), Prompt = PromptFor(manifest, options, row), Steps = options.Steps, Guidance = guidance, AudioGuidance = options.AudioGuidance, Beta = beta, Seed = seed,
        Scheduler = options.Scheduler, Width = size, Height = size,
    };

    private static string PromptFor(DatasetManifest manifest, EvaluationOptions options, ManifestRow row)
    {
        if (!options.PromptFromCaption) return options.Prompt;
        if (string.IsNullOrWhiteSpace(row.Caption))
            throw new SonicException($"{manifest.FilePath}: line {row.Line} has no caption (--prompt-from-caption needs a caption column)");
        return row.Caption;
    }

    private Prediction RealPrediction(ManifestRow row)
    {
        if (_real.TryGetValue(row.Line, out var p)) return p;
        using var scope = torch.NewDisposeScope();
        p = ClassifyReal(classifier, _manifest.ImagePath(row));
        _real[row.Line] = p;
        return p;
    }

    /// <summary>The classifier's view of a real image file (resized as the classifier's training images).</summary>
    internal static Prediction ClassifyReal(WorldClassifier classifier, string imagePath)
    {
        using var scope = torch.NewDisposeScope();
        var img = ImageCache.Preprocess(ImageTensor.Load(imagePath), classifier.Config.InputSize).unsqueeze(0);
        return Classify(classifier, img);
    }

    internal static Prediction Classify(WorldClassifier classifier, Tensor image01)
    {
        var x = image01.cpu().to_type(ScalarType.Float32);
        using var o = classifier.Predict(x);
        using var luma = Luminance(x);
        return new Prediction((int)o.Logits[0].argmax().item<long>(), o.Intensity[0].item<float>(),
            o.Features[0].to_type(ScalarType.Float64).data<double>().ToArray(), luma.item<float>());
    }

    /// <summary>Mean Rec. 601 luma of [1, 3, H, W] RGB in [0, 1].</summary>
    public static Tensor Luminance(Tensor rgb01)
    {
        using var w = torch.tensor(new[] { 0.299f, 0.587f, 0.114f }).reshape(1, 3, 1, 1);
        using var weighted = rgb01 * w;
        return weighted.sum(1).mean();
    }

    public static double Cosine(double[] a, double[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return na == 0 || nb == 0 ? 0 : dot / Math.Sqrt(na * nb);
    }

    /// <summary>Classes down, up to <see cref="EvaluationOptions.GridPerClass"/> samples across: [real | generated] pairs when images exist.</summary>
    private bool WriteGrid(List<ManifestRow> main, double beta, int size, string path)
    {
        if (Options.GridPerClass == 0 || _gridImages.Count == 0) return false;
        using var scope = torch.NewDisposeScope();
        int gap = 2;
        var white = torch.ones(3, size, gap);
        var lines = new List<Tensor>();
        foreach (var group in main.Where(r => _gridImages.ContainsKey(r.Line)).GroupBy(r => r.Label).OrderBy(g => classifier.Config.LabelIndex(g.Key)))
        {
            var cells = new List<Tensor>();
            foreach (var r in group.Take(Options.GridPerClass))
            {
                if (HasImage(r)) cells.Add(ImageCache.Preprocess(ImageTensor.Load(_manifest.ImagePath(r)), size));
                cells.Add(_gridImages[r.Line][0]);
                cells.Add(white);
            }
            lines.Add(torch.cat(cells.ToArray(), 2));
        }
        long width = lines.Max(l => l.shape[2]);
        var padded = lines.Select(l => torch.cat([l, torch.ones(3, size, width - l.shape[2])], 2)).SelectMany(l => new[] { l, torch.ones(3, gap, width) }).ToArray();
        ImageTensor.SavePng(torch.cat(padded, 1), path, [new("software", "SonicDiffusion.NET eval"),
            new("layout", string.Create(CultureInfo.InvariantCulture, $"one row per class; {(main.Any(HasImage) ? "real | generated pairs" : "generated images")}; β {beta}, guidance {Options.Guidance}"))]);
        return true;
    }
}
