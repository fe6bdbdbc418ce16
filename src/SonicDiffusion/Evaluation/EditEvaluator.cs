using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SkiaSharp;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Imaging;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Sharding;
using SonicDiffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// <c>sonic eval edit</c>: edits held-out scenes of the world with sounds of other classes (<see cref="ImageEditPipeline"/>,
/// official settings otherwise) and measures, per injection fraction, how often a <see cref="WorldClassifier"/> sees the
/// sound's class in the edit (class switch) and how much of the source's structure the edit keeps (<see cref="Ssim"/>
/// and <see cref="EdgeSimilarity"/> against stated thresholds). Each scene is inverted once and the inversion reused for
/// every fraction and sound. Writes report.json, report.md, an example sheet and a bar plot.
/// </summary>
public sealed class EditEvaluator(SonicDiffusionModel model, WorldClassifier classifier, EditEvaluationOptions options)
{
    public const string JsonFile = "report.json";
    public const string MarkdownFile = "report.md";
    public const string SheetFile = "edit-sheet.png";
    public const string PlotFile = "edit-rates.png";
    /// <summary>Side of one tile of the example sheet.</summary>
    public const int SheetTile = 128;

    private readonly ImageEditPipeline _pipeline = new(model);

    public EditEvaluationOptions Options { get; } = options.Validate();

    /// <summary>Where the classifier came from (shown in the report).</summary>
    public string ClassifierSource { get; init; } = "";

    /// <summary>Reads the rows an edit evaluation needs: audio, image and label are required, split optional.</summary>
    public static DatasetManifest ReadManifest(string path) => DatasetManifest.Read(path, ["audio", "image", "label"]);

    private sealed record Sheet(ManifestRow Scene, Tensor Source, List<(EditResult Result, Tensor Image)> Edits);

    public EditEvaluationReport Run(DatasetManifest manifest, string outDir, IProgress<ProgressInfo>? progress = null, Action<string>? log = null, CancellationToken ct = default)
    {
        var clock = Stopwatch.StartNew();
        var notes = new List<string>();
        void Note(string s) { notes.Add(s); log?.Invoke(s); }

        var (rows, split, scenes, pairs) = Plan(manifest, Note);
        var (beta, betaSites) = Beta();
        var (featureSites, attentionSites) = PnpInjection.Sites(model.Sd.Unet, Options.FeatureSites);

        int totalEdits = pairs.Sum(p => p.Length) * Options.Fractions.Count;
        int done = 0;
        var results = new List<EditResult>(totalEdits);
        var editSeconds = new Dictionary<double, List<double>>();
        var baselineResults = new List<EditResult>();
        var baselineSeconds = new Dictionary<double, List<double>>();
        var inversionSeconds = new List<double>();
        var sourceClass = new List<int>();
        var roundTrip = new List<(double Ssim, double Edge)>();
        var sheets = new List<Sheet>();
        var sources = new List<Tensor>();
        int inversions = 0;
        try
        {
            for (int k = 0; k < scenes.Count; k++)
            {
                ct.ThrowIfCancellationRequested();
                var scene = scenes[k];
                if (k == 0) progress?.Report(new ProgressInfo("invert", 0, scenes.Count));
                using var source = _pipeline.Prepare(manifest.ImagePath(scene), ImageFit.Resize);
                sources.Add(source.Image.detach().clone());
                sourceClass.Add(Classify(source.Image));
                roundTrip.Add(RoundTrip(source));
                var sw = Stopwatch.StartNew();
                var chain = _pipeline.Invert(source, Options.Steps, null, ct);
                inversionSeconds.Add(sw.Elapsed.TotalSeconds);
                inversions++;
                progress?.Report(new ProgressInfo("invert", k + 1, scenes.Count, Path.GetFileName(scene.Image)));
                Sheet? sheet = k < Options.SheetScenes ? new Sheet(scene, source.Image.detach().clone(), []) : null;
                if (sheet != null) sheets.Add(sheet);
                using var sourceFeatures = new PnpSourceFeatures();
                try
                {
                    foreach (double f in Options.Fractions)
                        foreach (int s in pairs[k])
                        {
                            ct.ThrowIfCancellationRequested();
                            var sound = rows[s];
                            var req = Request(manifest, source, sound, f, beta, betaSites);
                            sw.Restart();
                            using var edited = _pipeline.Edit(source, chain, req, null, ct, sourceFeatures: sourceFeatures);
                            var r = Judge(scene, sound, f, edited, source.Image);
                            results.Add(r);
                            (editSeconds.TryGetValue(f, out var list) ? list : editSeconds[f] = []).Add(sw.Elapsed.TotalSeconds);
                            sheet?.Edits.Add((r, edited.detach().clone()));
                            if (Options.TextBaseline is not null)
                            {
                                sw.Restart();
                                baselineResults.Add(TextBaseline(source, chain, req, scene, sound, f, sourceFeatures, ct));
                                (baselineSeconds.TryGetValue(f, out var bl) ? bl : baselineSeconds[f] = []).Add(sw.Elapsed.TotalSeconds);
                            }
                            progress?.Report(new ProgressInfo("edit", ++done, totalEdits));
                        }
                }
                finally
                {
                    foreach (var t in chain) t.Dispose();
                }
            }

            var rowsByFraction = Options.Fractions.Select(f => Row(f, results.Where(r => r.Fraction == f).ToList(), editSeconds.GetValueOrDefault(f) ?? [])).ToList();
            var baselineRows = Options.TextBaseline is null ? null
                : Options.Fractions.Select(f => Row(f, baselineResults.Where(r => r.Fraction == f).ToList(), baselineSeconds.GetValueOrDefault(f) ?? [])).ToList();
            var sceneLabels = scenes.Select(r => classifier.Config.LabelIndex(r.Label)).ToList();
            double sourceRate = Enumerable.Range(0, scenes.Count).Average(k => sourceClass[k] == sceneLabels[k] ? 1.0 : 0.0);
            var pairList = Enumerable.Range(0, scenes.Count).SelectMany(k => pairs[k].Select(s => (k, s))).ToList();
            double sourceIsTarget = pairList.Average(p => sourceClass[p.k] == classifier.Config.LabelIndex(rows[p.s].Label) ? 1.0 : 0.0);
            var vae = Reference("source vs its VAE round trip (the most a perfect edit keeps)", roundTrip);
            StructureReference? unrelated = null;
            if (scenes.Count >= 2)
                unrelated = Reference("source vs another evaluated scene (unrelated images)",
                    Enumerable.Range(0, scenes.Count).Select(k => Structure(sources[k], sources[(k + 1) % scenes.Count])).ToList());
            else Note("one scene only: no unrelated-pair reference");

            Directory.CreateDirectory(outDir);
            var files = new List<string> { JsonFile, MarkdownFile };
            if (sheets.Count > 0)
            {
                WriteSheet(sheets, Path.Combine(outDir, SheetFile));
                files.Add(SheetFile);
            }
            EvaluationPlots.WriteEditRates(Path.Combine(outDir, PlotFile), rowsByFraction, sourceIsTarget, EditEvaluationOptions.Target);
            files.Add(PlotFile);

            var report = new EditEvaluationReport
            {
                Model = model.Source, Classifier = ClassifierSource, Manifest = manifest.FilePath, Split = split, Options = Options,
                Beta = beta, FeatureSites = featureSites.Select(x => x.Name).ToArray(), AttentionSites = attentionSites.Select(x => x.Name).ToArray(),
                NativeSize = _pipeline.NativeSize, Scenes = scenes.Count, Inversions = inversions,
                SecondsPerInversion = inversionSeconds.DefaultIfEmpty(0).Average(), SourceClassRate = sourceRate,
                SourceIsTargetRate = sourceIsTarget, VaeRoundTrip = vae, Unrelated = unrelated, Rows = rowsByFraction,
                TextBaselineRows = baselineRows, TextBaselineEdits = baselineResults,
                Notes = notes, Files = files, Edits = results, ElapsedSeconds = clock.Elapsed.TotalSeconds,
            };
            File.WriteAllText(Path.Combine(outDir, JsonFile), report.ToJson());
            File.WriteAllText(Path.Combine(outDir, MarkdownFile), report.ToMarkdown());
            return report;
        }
        finally
        {
            foreach (var t in sources) t.Dispose();
            foreach (var s in sheets)
            {
                s.Source.Dispose();
                foreach (var (_, image) in s.Edits) image.Dispose();
            }
            _pipeline.Audio?.ClearCache();
        }
    }

    /// <summary>The held-out rows, their split, the scenes to edit and each scene's sounds (indices into the rows): the same in every shard.</summary>
    private (List<ManifestRow> Rows, string Split, List<ManifestRow> Scenes, int[][] Pairs) Plan(DatasetManifest manifest, Action<string> note)
    {
        var (rows, split) = WorldEvaluator.HeldOutRows(manifest, classifier.Config, Options.Split, note);
        bool HasImage(ManifestRow r) => r.Image.Length > 0 && File.Exists(manifest.ImagePath(r));
        var withImage = rows.Where(HasImage).ToList();
        if (withImage.Count == 0) throw new SonicException($"{manifest.FilePath}: no row of split '{split}' has an image file to edit");
        if (withImage.Count < rows.Count) note($"{rows.Count - withImage.Count} of {rows.Count} rows have no image file; they serve only as sounds");
        var scenes = withImage.Take(Options.Count).ToList();
        if (scenes.Count < Options.Count) note($"split '{split}' has {scenes.Count} scenes with images; editing all of them (asked for {Options.Count})");
        var pairs = EditPairing.Pair(scenes.Select(r => classifier.Config.LabelIndex(r.Label)).ToList(),
            rows.Select(r => classifier.Config.LabelIndex(r.Label)).ToList(), Options.Sounds, Options.Seed);
        if (pairs.Any(p => p.Length < Options.Sounds))
            note($"only {pairs.Min(p => p.Length)} other class(es) have sounds; some scenes get fewer than {Options.Sounds} sounds");
        return (rows.ToList(), split, scenes, pairs);
    }

    private (double Beta, IReadOnlyList<double>? Sites) Beta()
    {
        var cfg = model.Adapters.Config;
        double beta = Options.Beta ?? cfg.Beta;
        var betaSites = Options.Beta is null ? cfg.BetaSites : null;
        model.Adapters.BetaMap(beta, betaSites);
        return (beta, betaSites);
    }

    private ImageEditRequest Request(DatasetManifest manifest, EditSource source, ManifestRow sound, double fraction, double beta, IReadOnlyList<double>? betaSites) => new()
    {
        Image = source.Path, Audio = manifest.AudioPath(sound), Steps = Options.Steps, Guidance = Options.Guidance,
        FeatureInjection = fraction, AttnInjection = fraction, FeatureSites = Options.FeatureSites, Beta = beta, BetaSites = betaSites, Seed = Options.Seed, Fit = ImageFit.Resize,
    };

    /// <summary>The text-only PnP edit of an audio edit's request: no sound, β 0, the baseline prompt of the sound's class.</summary>
    private EditResult TextBaseline(EditSource source, IReadOnlyList<Tensor> chain, ImageEditRequest audioRequest, ManifestRow scene, ManifestRow sound, double fraction,
        PnpSourceFeatures sourceFeatures, CancellationToken ct)
    {
        var req = audioRequest with { Audio = null, Beta = 0, BetaSites = null, Prompt = Options.BaselinePrompt(sound.Label) };
        using var edited = _pipeline.Edit(source, chain, req, null, ct, sourceFeatures: sourceFeatures);
        return Judge(scene, sound, fraction, edited, source.Image);
    }

    public const string ShardProtocol = "edit";

    public static string ShardDoneListName(ShardSpec shard) => $"shard-{shard.Tag}.items.jsonl";

    /// <summary>
    /// <c>sonic eval edit --shard I/N</c>: the scenes k with k mod N = I (scene pairing as unsharded), each an item of a
    /// <see cref="ShardResult"/> that <c>sonic eval merge</c> combines. Item scores, per fraction f (prefix "f{f}.",
    /// and "text.f{f}." for the text baseline): the scene's rates of switch, still source class, SSIM kept, edge kept,
    /// switch ∧ SSIM kept and switch ∧ both kept (success), and its mean SSIM and edge F1; per scene: source_class (the
    /// judge's verdict on the source) and its VAE round trip's SSIM and edge F1. With the same number of sounds per
    /// scene (the usual case) the merged means are the unsharded report's rates. Finished scenes go to a done-list
    /// (<c>shard-I-of-N.items.jsonl</c>); a re-run skips them.
    /// </summary>
    public ShardResult RunShard(DatasetManifest manifest, ShardSpec shard, string outDir, IProgress<ProgressInfo>? progress = null, Action<string>? log = null,
        CancellationToken ct = default)
    {
        var (rows, split, scenes, pairs) = Plan(manifest, s => log?.Invoke(s));
        var (beta, betaSites) = Beta();
        var settings = new JsonObject
        {
            ["model"] = model.Source, ["classifier"] = ClassifierSource, ["manifest"] = Path.GetFullPath(manifest.FilePath), ["split"] = split,
            ["beta"] = beta, ["scenes"] = scenes.Count, ["options"] = JsonSerializer.SerializeToNode(Options, ConfigJson.Options),
        };
        Directory.CreateDirectory(outDir);
        using var done = DoneList.Open(Path.Combine(outDir, ShardDoneListName(shard)));
        if (done.Entries.TryGetValue("settings", out var saved))
        {
            if (ShardMerge.FirstDifference(saved["settings"], settings, "") is { } diff)
                throw new SonicException($"{done.FilePath}: made with other settings ({diff}); use another --out or delete the file to redo the shard");
        }
        else done.Add(new JsonObject { ["key"] = "settings", ["settings"] = settings.DeepClone() });

        var mine = shard.Items(scenes.Count).ToList();
        string Key(int k) => string.Create(CultureInfo.InvariantCulture, $"{k}:{scenes[k].Image}");
        log?.Invoke($"{shard}: {mine.Count} of {scenes.Count} scenes" + (mine.Count(k => done.Contains(Key(k))) is > 0 and var n ? $", {n} already done (skipped)" : ""));
        int finished = 0;
        progress?.Report(new ProgressInfo("edit shard", 0, mine.Count));
        try
        {
            foreach (int k in mine)
            {
                ct.ThrowIfCancellationRequested();
                if (!done.Contains(Key(k)))
                    done.Add(new JsonObject { ["key"] = Key(k), ["index"] = k, ["scores"] = MeasureScene(manifest, rows, scenes[k], pairs[k], beta, betaSites, ct) });
                progress?.Report(new ProgressInfo("edit shard", ++finished, mine.Count));
            }
        }
        finally { _pipeline.Audio?.ClearCache(); }
        var items = mine.Select(k => new ItemResult(k, Key(k),
            done.Entries[Key(k)]["scores"]!.AsObject().ToDictionary(kv => kv.Key, kv => kv.Value!.GetValue<double>(), StringComparer.Ordinal))).ToList();
        var result = new ShardResult
        {
            Protocol = ShardProtocol, Settings = settings, Shard = shard.Index, Shards = shard.Count, TotalItems = scenes.Count, Items = items,
            FeatureSets = new Dictionary<string, FeatureStatistics>(),
        };
        result.Write(outDir);
        return result;
    }

    private JsonObject MeasureScene(DatasetManifest manifest, List<ManifestRow> rows, ManifestRow scene, int[] sounds, double beta, IReadOnlyList<double>? betaSites,
        CancellationToken ct)
    {
        var scores = new JsonObject();
        using var source = _pipeline.Prepare(manifest.ImagePath(scene), ImageFit.Resize);
        scores["source_class"] = Classify(source.Image) == classifier.Config.LabelIndex(scene.Label) ? 1.0 : 0.0;
        var (vaeSsim, vaeEdge) = RoundTrip(source);
        scores["vae_ssim"] = vaeSsim;
        scores["vae_edge_f1"] = vaeEdge;
        var chain = _pipeline.Invert(source, Options.Steps, null, ct);
        using var sourceFeatures = new PnpSourceFeatures();
        try
        {
            foreach (double f in Options.Fractions)
            {
                var audio = new List<EditResult>();
                var text = new List<EditResult>();
                foreach (int s in sounds)
                {
                    ct.ThrowIfCancellationRequested();
                    var req = Request(manifest, source, rows[s], f, beta, betaSites);
                    using (var edited = _pipeline.Edit(source, chain, req, null, ct, sourceFeatures: sourceFeatures))
                        audio.Add(Judge(scene, rows[s], f, edited, source.Image));
                    if (Options.TextBaseline is not null) text.Add(TextBaseline(source, chain, req, scene, rows[s], f, sourceFeatures, ct));
                }
                string prefix = "f" + f.ToString("R", CultureInfo.InvariantCulture) + ".";
                AddRates(scores, prefix, audio);
                if (text.Count > 0) AddRates(scores, "text." + prefix, text);
            }
        }
        finally
        {
            foreach (var t in chain) t.Dispose();
        }
        return scores;
    }

    private static void AddRates(JsonObject scores, string prefix, List<EditResult> r)
    {
        if (r.Count == 0) return;
        double Rate(Func<EditResult, bool> p) => r.Average(x => p(x) ? 1.0 : 0.0);
        scores[prefix + "switch"] = Rate(x => x.Switched);
        scores[prefix + "still_source_class"] = Rate(x => x.Predicted == x.SceneLabel);
        scores[prefix + "ssim"] = r.Average(x => x.Ssim);
        scores[prefix + "ssim_kept"] = Rate(x => x.SsimKept);
        scores[prefix + "edge_f1"] = r.Average(x => x.EdgeF1);
        scores[prefix + "edge_kept"] = Rate(x => x.EdgeKept);
        scores[prefix + "switch_ssim_kept"] = Rate(x => x.Switched && x.SsimKept);
        scores[prefix + "success"] = Rate(x => x.Switched && x.SsimKept && x.EdgeKept);
    }

    private EditResult Judge(ManifestRow scene, ManifestRow sound, double fraction, Tensor edited, Tensor source)
    {
        int predicted = Classify(edited);
        double ssim = Ssim.Compute(source, edited);
        double edge = EdgeSimilarity.F1(source, edited);
        return new EditResult(scene.Image, scene.Label, sound.Audio, sound.Label, fraction, classifier.Config.Labels[predicted], ssim, edge,
            predicted == classifier.Config.LabelIndex(sound.Label), ssim >= Options.SsimThreshold, edge >= Options.EdgeThreshold);
    }

    private EditFractionRow Row(double fraction, List<EditResult> r, List<double> seconds)
    {
        double Rate(Func<EditResult, bool> p) => r.Count == 0 ? 0 : r.Average(x => p(x) ? 1.0 : 0.0);
        double success = Rate(x => x.Switched && x.SsimKept && x.EdgeKept);
        return new EditFractionRow
        {
            Fraction = fraction, Count = r.Count,
            SwitchRate = Rate(x => x.Switched), SourceClassRate = Rate(x => x.Predicted == x.SceneLabel),
            SsimMean = r.Count == 0 ? 0 : r.Average(x => x.Ssim), SsimKeptRate = Rate(x => x.SsimKept),
            EdgeF1Mean = r.Count == 0 ? 0 : r.Average(x => x.EdgeF1), EdgeKeptRate = Rate(x => x.EdgeKept),
            SwitchAndSsimKeptRate = Rate(x => x.Switched && x.SsimKept), SwitchAndEdgeKeptRate = Rate(x => x.Switched && x.EdgeKept),
            SuccessRate = success, MeetsTarget = success >= EditEvaluationOptions.Target,
            SecondsPerEdit = seconds.DefaultIfEmpty(0).Average(),
        };
    }

    private StructureReference Reference(string name, List<(double Ssim, double Edge)> v) => new(name, v.Count,
        v.Average(x => x.Ssim), v.Average(x => x.Edge), v.Average(x => x.Ssim >= Options.SsimThreshold ? 1.0 : 0.0),
        v.Average(x => x.Edge >= Options.EdgeThreshold ? 1.0 : 0.0),
        v.Average(x => x.Ssim >= Options.SsimThreshold && x.Edge >= Options.EdgeThreshold ? 1.0 : 0.0));

    /// <summary>SSIM and edge F1 of b against a; b is resized to a's size when they differ.</summary>
    private static (double Ssim, double Edge) Structure(Tensor a, Tensor b)
    {
        using var scope = torch.NewDisposeScope();
        if (a.shape[2] != b.shape[2] || a.shape[3] != b.shape[3])
            b = nn.functional.interpolate(b, size: [a.shape[2], a.shape[3]], mode: InterpolationMode.Bilinear, align_corners: false, antialias: true);
        return (Ssim.Compute(a, b), EdgeSimilarity.F1(a, b));
    }

    private (double Ssim, double Edge) RoundTrip(EditSource source)
    {
        using var mode = torch.inference_mode();
        using var latent = _pipeline.EncodeSource(source);
        using var decoded = model.Sd.DecodeToImage(latent);
        using var back = source.Geometry.FromOutput(decoded);
        return Structure(source.Image, back);
    }

    private int Classify(Tensor image01)
    {
        using var o = classifier.Predict(image01.cpu().to_type(ScalarType.Float32));
        return (int)o.Logits[0].argmax().item<long>();
    }

    /// <summary>One row per scene: the source, then its edits (fractions in order, sounds in order), each under a caption.</summary>
    private void WriteSheet(List<Sheet> sheets, string path)
    {
        using var scope = torch.NewDisposeScope();
        const int gap = 2;
        var lines = new List<Tensor>();
        foreach (var s in sheets)
        {
            var cells = new List<Tensor> { Cell(s.Source, "source", s.Scene.Label, $"judged {Label(Classify(s.Source))}") };
            foreach (var (r, image) in s.Edits)
                cells.Add(Cell(image, string.Create(CultureInfo.InvariantCulture, $"f {r.Fraction} → {r.SoundLabel}"),
                    r.Switched ? $"switched: {r.Predicted}" : $"judged {r.Predicted}", string.Create(CultureInfo.InvariantCulture, $"SSIM {r.Ssim:0.00} · edge {r.EdgeF1:0.00}")));
            lines.Add(torch.cat(cells.SelectMany(c => new[] { c, torch.ones(3, SheetTile + CaptionHeight, gap) }).ToArray(), 2));
        }
        long width = lines.Max(l => l.shape[2]);
        var rows = lines.SelectMany(l => new[] { torch.cat([l, torch.ones(3, l.shape[1], width - l.shape[2])], 2), torch.ones(3, gap, width) }).ToArray();
        ImageTensor.SavePng(torch.cat(rows, 1), path, [new("software", "SonicDiffusion.NET eval edit"),
            new("layout", "one row per scene: source | edits (injection fraction f → sound class); captions: the classifier's verdict, SSIM and edge F1 to the source")]);

        Tensor Cell(Tensor image, params string[] caption)
        {
            var tile = ImageCache.Preprocess(image[0].cpu().to_type(ScalarType.Float32), SheetTile);
            return torch.cat([Caption(caption, SheetTile), tile], 1);
        }
    }

    private string Label(int index) => classifier.Config.Labels[index];

    private const int CaptionHeight = 38;

    /// <summary>A white [3, <see cref="CaptionHeight"/>, width] strip with up to three lines of black text, each shrunk to fit.</summary>
    private static Tensor Caption(IReadOnlyList<string> lines, int width)
    {
        int height = CaptionHeight;
        using var bmp = new SKBitmap(new SKImageInfo(width, height, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using (var canvas = new SKCanvas(bmp))
        {
            canvas.Clear(SKColors.White);
            using var paint = new SKPaint { Color = SKColors.Black, IsAntialias = true };
            for (int i = 0; i < Math.Min(3, lines.Count); i++)
            {
                float size = 10;
                using var font = new SKFont(SKTypeface.Default, size);
                while (size > 6 && font.MeasureText(lines[i]) > width - 4) font.Size = size -= 0.5f;
                canvas.DrawText(lines[i], 2, 10 + 12 * i, SKTextAlign.Left, font, paint);
            }
        }
        var bytes = new byte[bmp.ByteCount];
        System.Runtime.InteropServices.Marshal.Copy(bmp.GetPixels(), bytes, 0, bytes.Length);
        using var t = torch.tensor(bytes, dtype: ScalarType.Byte).reshape(height, width, 4);
        return t.narrow(2, 0, 3).permute(2, 0, 1).to_type(ScalarType.Float32).div(255);
    }
}
