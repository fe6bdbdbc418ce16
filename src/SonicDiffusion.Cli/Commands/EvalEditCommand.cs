using System.CommandLine;
using System.Globalization;
using SonicDiffusion.Core;
using SonicDiffusion.Evaluation;
using SonicDiffusion.Pipelines;

namespace SonicDiffusion.Cli.Commands;

/// <summary><c>sonic eval edit</c>: edits held-out scenes with sounds of other classes and writes the edit report (see <see cref="EditEvaluator"/>).</summary>
public static class EvalEditCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = $"SonicDiffusion model bundle (default {GenerateCommand.DefaultModel})" };
        var data = new Option<string>("--data") { Description = "Manifest (.jsonl or .csv) with audio, image and label (split optional)", Required = true };
        var output = new Option<string>("--out") { Description = "Report folder (report.json, report.md, edit-sheet.png, edit-rates.png)", Required = true };
        var classifier = new Option<string?>("--classifier") { Description = $"Evaluation classifier folder (default: the bundle's {EvalCommand.ClassifierFolder}/)" };
        var count = new Option<int>("--count") { Description = "Held-out scenes to edit (stratified by class)", DefaultValueFactory = _ => 27 };
        var sounds = new Option<int>("--sounds") { Description = "Sounds of other classes per scene", DefaultValueFactory = _ => 2 };
        var fractions = new Option<string>("--fractions") { Description = "Injection fractions, one table row each (feature = attention = f)", DefaultValueFactory = _ => "0.5,0.8,1.0" };
        var steps = CommonOptions.Steps(50);
        steps.Description = "DDIM steps of the inversion and of the edits";
        var seed = new Option<long>("--seed") { Description = "Seed of the scene-sound pairing", DefaultValueFactory = _ => 0 };
        var guidance = CommonOptions.Guidance(7.5);
        var featureSites = CommonOptions.FeatureSites();
        var beta = new Option<double?>("--beta") { Description = "Audio strength β at every adapter site (default: the model's)" };
        var split = new Option<string>("--split") { Description = "Manifest split of the held-out scenes and sounds", DefaultValueFactory = _ => "test" };
        var ssim = new Option<double>("--ssim-threshold") { Description = "SSIM to the source that counts as structure kept", DefaultValueFactory = _ => new EditEvaluationOptions().SsimThreshold };
        var edge = new Option<double>("--edge-threshold") { Description = "Edge F1 to the source that counts as structure kept", DefaultValueFactory = _ => new EditEvaluationOptions().EdgeThreshold };
        var sheetScenes = new Option<int>("--sheet-scenes") { Description = "Scenes in the example sheet", DefaultValueFactory = _ => 4 };
        var textBaseline = new Option<string?>("--text-baseline")
        {
            Description = "Also run the text-only PnP baseline: every edit again with no sound, β 0 and this prompt, {label} = the target class in words (e.g. \"a photo of {label}\")",
        };
        var threads = CommonOptions.TorchThreads();
        var sharding = new ShardOptions();
        var device = CommonOptions.Device();
        var cmd = new Command("edit", "Measure audio-guided editing on held-out scenes: class switch rate to the sound's class, SSIM and edge F1 to the source, per injection fraction; writes report.json/report.md/sheet/plot")
        {
            model, data, output, classifier, count, sounds, fractions, steps, seed, guidance, featureSites, beta, split, ssim, edge, sheetScenes, textBaseline, threads, device,
        };
        sharding.AddTo(cmd);
        cmd.SetAction(pr =>
        {
            var options = new EditEvaluationOptions
            {
                Count = pr.GetValue(count), Sounds = pr.GetValue(sounds), Fractions = EvaluationOptions.ParseList(pr.GetValue(fractions)!, "--fractions"),
                Steps = pr.GetValue(steps), Seed = pr.GetValue(seed), Guidance = pr.GetValue(guidance), Beta = pr.GetValue(beta),
                FeatureSites = CommonOptions.ParseFeatureSites(pr.GetValue(featureSites)),
                Split = pr.GetValue(split)!, SsimThreshold = pr.GetValue(ssim), EdgeThreshold = pr.GetValue(edge), SheetScenes = pr.GetValue(sheetScenes),
                TextBaseline = pr.GetValue(textBaseline),
            }.Validate();
            CommonOptions.ApplyTorchThreads(pr.GetValue(threads));
            var shard = sharding.Resolve(pr);
            var manifest = EditEvaluator.ReadManifest(pr.GetValue(data)!);
            var (loaded, classifierModel, classifierPath) = EvalCommand.LoadForEvaluation(pr.GetValue(model), pr.GetValue(classifier), pr.GetValue(device));
            using var loadedModel = loaded;
            using var loadedClassifier = classifierModel;
            var evaluator = new EditEvaluator(loaded, classifierModel, options) { ClassifierSource = classifierPath };
            string outDir = pr.GetValue(output)!;
            if (shard.IsSharded)
            {
                var part = ConsoleProgress.Run(p => evaluator.RunShard(manifest, shard, outDir, p, line => Console.Error.WriteLine("note: " + line), CliContext.Cancellation));
                Console.WriteLine($"wrote {Path.Combine(outDir, Sharding.ShardResult.FileName(shard))}: {part.Items.Count} of {part.TotalItems} scenes; when every shard is done: sonic eval merge {outDir}");
                return 0;
            }
            var report = ConsoleProgress.Run(p => evaluator.Run(manifest, outDir, p, line => Console.Error.WriteLine("note: " + line), CliContext.Cancellation));
            string F(double v) => v.ToString("0.000", CultureInfo.InvariantCulture);
            Console.WriteLine($"{report.Scenes} scenes, {report.Inversions} inversions; sources judged as their own class {F(report.SourceClassRate)}");
            foreach (var r in report.Rows)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"f {r.Fraction}: class switch {F(r.SwitchRate)} · SSIM {F(r.SsimMean)} (kept {F(r.SsimKeptRate)}) · edge F1 {F(r.EdgeF1Mean)} (kept {F(r.EdgeKeptRate)}) · switch ∧ SSIM kept {F(r.SwitchAndSsimKeptRate)} · switch ∧ both kept {F(r.SuccessRate)} ({(r.MeetsTarget ? "target met" : "target not met")}) · n = {r.Count}"));
            foreach (var r in report.TextBaselineRows ?? [])
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"text baseline f {r.Fraction}: class switch {F(r.SwitchRate)} · SSIM kept {F(r.SsimKeptRate)} · edge kept {F(r.EdgeKeptRate)} · switch ∧ both kept {F(r.SuccessRate)} · n = {r.Count}"));
            Console.WriteLine($"wrote {Path.Combine(outDir, EditEvaluator.MarkdownFile)} and {report.Files.Count - 1} other file(s) in {report.ElapsedSeconds / 60:0.0} min");
            return 0;
        });
        return cmd;
    }
}
