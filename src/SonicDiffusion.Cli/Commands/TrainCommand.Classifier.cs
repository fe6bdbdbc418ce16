using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Data.World;
using SonicDiffusion.Evaluation;
using SonicDiffusion.Training;

namespace SonicDiffusion.Cli.Commands;

/// <summary><c>sonic train classifier</c>: the evaluation classifier of <c>sonic eval</c> (class + intensity of real images).</summary>
public static partial class TrainCommand
{
    private static Command Classifier()
    {
        var common = new Common(new Defaults(Steps: 1500, Batch: 64, Lr: 2e-3, Warmup: 100, MinLrRatio: 0.05, Ema: null, CheckpointEvery: 250));
        var valSplit = new Option<string>("--val-split") { Description = "Split scored at each checkpoint (accuracy, colour-shifted accuracy, intensity ρ)", DefaultValueFactory = _ => "val" };
        var testSplit = new Option<string>("--test-split") { Description = "Split of the final report (all 8 colour shifts)", DefaultValueFactory = _ => "test" };
        var cmd = new Command("classifier", "Train the evaluation classifier (small CNN: class + intensity of the world's real images, with colour/hue/permutation jitter); export config.json + model.safetensors");
        common.AddTo(cmd);
        cmd.Options.Add(valSplit);
        cmd.Options.Add(testSplit);
        cmd.SetAction(pr =>
        {
            var options = common.Options(pr, new ClassifierTrainingOptions());
            var (manifest, rows) = common.ReadRows(pr);
            options = options with { Model = options.Model with { Labels = LabelsOf(rows, options.Model) } };
            options.Validate();
            string runDir = common.RunDir(pr);
            string cacheDir = common.CacheDir(pr, manifest);
            int threads = pr.GetValue(common.Threads);
            ImageCache? Cache(string? split)
            {
                var r = split is null ? rows : manifest.Rows.Where(x => x.Split == split && options.Model.LabelIndex(x.Label) >= 0).ToList();
                if (r.Count == 0) { Log($"train classifier: no rows in split '{split}' with a known label; not scored"); return null; }
                return ConsoleProgress.Run(p => ImageCache.LoadOrBuild(manifest, r, options.CacheResolution, cacheDir, p, Log, threads, CliContext.Cancellation));
            }
            using var images = Cache(null)!;
            using var validation = Cache(pr.GetValue(valSplit));
            ClassifierTrainingTask task;
            using (common.Init(pr, "train classifier init")) task = new ClassifierTrainingTask(images, validation, options, Log);
            using var _ = task;
            using var trainer = new Trainer(task, common.Training(pr), runDir);
            if (!RunTrainer(trainer, "train classifier")) return 130;
            string export = common.ExportDir(pr, "classifier");
            task.Export(trainer, export, common.Dtype(pr));
            Log($"train classifier: exported {export} ({FolderSize(export)}, {task.Classifier.parameters().Sum(p => p.numel()):N0} parameters)");

            string test = pr.GetValue(testSplit)!;
            using var testImages = Cache(test);
            if (testImages is not null)
            {
                using var exported = WorldClassifier.Load(export);
                var labels = testImages.Rows.Select(r => exported.Config.LabelIndex(r.Label)).ToList();
                var intensities = testImages.Rows.Select(r => r.Number("intensity") ?? double.NaN).ToList();
                var scores = ClassifierValidation.Score(exported, testImages.Images, labels, intensities);
                Log($"train classifier: split '{test}' (exported weights): {scores}");
                foreach (var (shift, acc) in scores.PerShift) Log(string.Create(CultureInfo.InvariantCulture, $"  {shift}: {acc:P1}"));
                var json = new JsonObject
                {
                    ["split"] = test, ["count"] = scores.Count, ["accuracy"] = scores.Accuracy,
                    ["colour_shifted_accuracy"] = scores.ColourShiftedAccuracy,
                    ["per_shift"] = new JsonObject(scores.PerShift.Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
                    ["intensity_spearman"] = double.IsNaN(scores.IntensitySpearman) ? null : scores.IntensitySpearman,
                    ["steps"] = trainer.Step, ["seed"] = trainer.Config.Seed,
                };
                ModelExport.WriteJson(Path.Combine(runDir, "scores.json"), json);
            }
            return 0;
        });
        return cmd;
    }

    /// <summary>The world's nine labels in their fixed order when every row uses them; otherwise the rows' labels, sorted.</summary>
    private static string[] LabelsOf(IReadOnlyList<ManifestRow> rows, WorldClassifierConfig model)
    {
        var distinct = rows.Select(r => r.Label).Distinct().ToList();
        if (distinct.All(l => model.LabelIndex(l) >= 0)) return model.Labels;
        if (distinct.All(l => WorldClasses.FromLabel(l) is not null)) return WorldClasses.All.Select(c => c.Label).ToArray();
        return distinct.Order(StringComparer.Ordinal).ToArray();
    }
}
