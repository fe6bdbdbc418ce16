using System.CommandLine;
using System.Globalization;
using SonicDiffusion.Core;
using SonicDiffusion.Evaluation;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Sharding;

namespace SonicDiffusion.Cli.Commands;

/// <summary><c>sonic eval</c>: generates images from held-out sounds and writes the quality report (see <see cref="WorldEvaluator"/>).</summary>
public static class EvalCommand
{
    /// <summary>Where a bundle keeps its evaluation classifier.</summary>
    public const string ClassifierFolder = "classifier";

    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = $"SonicDiffusion model bundle (default {GenerateCommand.DefaultModel})" };
        var data = new Option<string>("--data") { Description = "Manifest (.jsonl or .csv); audio + label required, image/intensity/split optional", Required = true };
        var output = new Option<string>("--out") { Description = "Report folder (report.json, report.md, plots, samples.png)", Required = true };
        var classifier = new Option<string?>("--classifier") { Description = $"Evaluation classifier folder (default: the bundle's {ClassifierFolder}/)" };
        var count = new Option<int>("--count") { Description = "Held-out sounds at the main settings (stratified by class)", DefaultValueFactory = _ => 90 };
        var sweepCount = new Option<int>("--sweep-count") { Description = "Sounds per sweep point (0 = no sweeps)", DefaultValueFactory = _ => 27 };
        var steps = CommonOptions.Steps(25);
        var seed = new Option<long>("--seed") { Description = "Seed of the first sample (sample k uses seed + k)", DefaultValueFactory = _ => 0 };
        var guidance = CommonOptions.Guidance(7.5);
        var beta = new Option<double?>("--beta") { Description = "β of the main set and the guidance sweep (default: the model's)" };
        var betas = new Option<string>("--betas") { Description = "β sweep values", DefaultValueFactory = _ => "0,0.5,1,1.5" };
        var guidances = new Option<string>("--guidances") { Description = "Guidance sweep values", DefaultValueFactory = _ => "1,2.5,5,7.5,10" };
        var scheduler = CommonOptions.Scheduler("pndm");
        var fromCaption = new Option<bool>("--prompt-from-caption") { Description = "Each sound's own caption as the text prompt (with --beta 0: how well the frozen text-to-image model draws each class)" };
        var audioGuidance = new Option<double?>("--audio-guidance") { Description = "Three-branch guidance: --guidance scales the text prompt, this the sound (default: the official joint guidance)" };
        var prompt = new Option<string>("--prompt") { Description = "Text prompt given with every sound (default: none, audio only)", DefaultValueFactory = _ => "" };
        var size = new Option<int?>("--size") { Description = "Image side (default: the model's native size)" };
        var split = new Option<string>("--split") { Description = "Manifest split of the held-out sounds (a manifest without a split column uses all rows)", DefaultValueFactory = _ => "test" };
        var where = new Option<string[]>("--where")
        {
            Description = "Only rows whose column has this value (column=value, repeatable; e.g. recipe_held_out=true for a recipe never heard in training, real=true with --split val for the held-out real recordings)",
        };
        var threads = CommonOptions.TorchThreads();
        var device = CommonOptions.Device();
        var protocol = new Option<string>("--protocol") { Description = "mini (the world's classifier metrics of a bundle) or paper (AIS, IIS, AIC, FID of --images with the real evaluation models)", DefaultValueFactory = _ => "mini" };
        var cmd = new Command("eval", "Measure a bundle on held-out sounds: AIC, IIS, FID-proxy (with real-vs-real baseline), intensity Spearman ρ, β and guidance sweeps; writes report.json/report.md/plots")
        {
            model, data, output, classifier, count, sweepCount, steps, seed, guidance, audioGuidance, beta, betas, guidances, scheduler, prompt, fromCaption, size, split, where, threads, device, protocol,
        };
        var sharding = new ShardOptions();
        sharding.AddTo(cmd);
        cmd.Subcommands.Add(Merge());
        EvalPaperCommand.AddOptions(cmd);
        cmd.SetAction(pr =>
        {
            switch (pr.GetValue(protocol))
            {
                case "paper":
                    CommonOptions.ApplyTorchThreads(pr.GetValue(threads));
                    return EvalPaperCommand.Run(pr, pr.GetValue(data)!, pr.GetValue(output)!, pr.GetValue(split)!, sharding.Resolve(pr));
                case "mini": break;
                case var other: throw new SonicException($"--protocol '{other}': expected mini or paper");
            }
            var options = new EvaluationOptions
            {
                Count = pr.GetValue(count), SweepCount = pr.GetValue(sweepCount), Steps = pr.GetValue(steps), Seed = pr.GetValue(seed),
                Guidance = pr.GetValue(guidance), AudioGuidance = pr.GetValue(audioGuidance), Beta = pr.GetValue(beta), Scheduler = pr.GetValue(scheduler)!, Prompt = pr.GetValue(prompt)!, PromptFromCaption = pr.GetValue(fromCaption), Size = pr.GetValue(size),
                Split = pr.GetValue(split)!,
                Where = pr.GetValue(where) ?? [],
                Betas = EvaluationOptions.ParseList(pr.GetValue(betas)!, "--betas"),
                Guidances = EvaluationOptions.ParseList(pr.GetValue(guidances)!, "--guidances"),
            }.Validate();
            CommonOptions.ApplyTorchThreads(pr.GetValue(threads));
            var shard = sharding.Resolve(pr);
            var manifest = WorldEvaluator.ReadManifest(pr.GetValue(data)!);
            var (loaded, classifierModel, classifierPath) = LoadForEvaluation(pr.GetValue(model), pr.GetValue(classifier), pr.GetValue(device));
            using var loadedModel = loaded;
            using var loadedClassifier = classifierModel;
            var evaluator = new WorldEvaluator(loaded, classifierModel, options) { ClassifierSource = classifierPath };
            string outDir = pr.GetValue(output)!;
            if (shard != ShardSpec.Whole)
            {
                var shardEvaluator = new WorldShardEvaluator(loaded, classifierModel, options) { ClassifierSource = classifierPath };
                var part = ConsoleProgress.Run(p => shardEvaluator.Run(manifest, shard, outDir, p, line => Console.Error.WriteLine("note: " + line), CliContext.Cancellation));
                Console.WriteLine($"wrote {Path.Combine(outDir, ShardResult.FileName(shard))}: {part.Items.Count} of {part.TotalItems} items; when every shard is done: sonic eval merge {outDir}");
                return 0;
            }
            var report = ConsoleProgress.Run(p => evaluator.Run(manifest, outDir, p, line => Console.Error.WriteLine("note: " + line), CliContext.Cancellation));
            var m = report.Main;
            string F(double? v) => v is { } x ? x.ToString("0.000", CultureInfo.InvariantCulture) : "—";
            Console.WriteLine($"AIC {F(m.Aic)} · IIS {F(m.Iis)} · FID-proxy {F(m.Fid)} (real vs real {F(m.FidRealBaseline)}) · intensity ρ {F(m.IntensitySpearman)} · n = {m.Count}");
            foreach (var s in report.Skipped) Console.WriteLine($"skipped {s.Figure}: {s.Reason}");
            Console.WriteLine($"wrote {Path.Combine(outDir, WorldEvaluator.MarkdownFile)} and {report.Files.Count - 1} other file(s) in {report.ElapsedSeconds / 60:0.0} min");
            return 0;
        });
        return cmd;
    }

    /// <summary><c>sonic eval merge DIR...</c>: the figures of a sharded evaluation from its shard results.</summary>
    private static Command Merge()
    {
        var inputs = new Argument<string[]>("shards") { Description = "Folders holding shard-I-of-N.json files (or the files)", Arity = ArgumentArity.OneOrMore };
        var output = new Option<string?>("--out") { Description = $"Folder for {MergedResult.FileName} (default: the first folder given)" };
        var cmd = new Command("merge", "Combine the per-shard results of 'sonic eval --shard I/N' (scores exactly; FID from the merged float64 feature statistics) into merged.json") { inputs, output };
        cmd.SetAction(pr =>
        {
            var given = pr.GetValue(inputs)!;
            var merged = ShardMerge.Merge(given);
            string dir = pr.GetValue(output) ?? (Directory.Exists(given[0]) ? given[0] : Path.GetDirectoryName(Path.GetFullPath(given[0]))!);
            string path = merged.Write(dir);
            string F(double? v) => v is { } x ? x.ToString("0.000", CultureInfo.InvariantCulture) : "—";
            var parts = merged.Scores.Select(kv => $"{kv.Key} {F(kv.Value.Mean)} (n {kv.Value.Count})")
                .Concat(merged.Fid.Select(kv => $"{kv.Key} {F(kv.Value)}"))
                .Concat(merged.Correlations.Select(kv => $"{kv.Key} {F(kv.Value)}"));
            Console.WriteLine($"{merged.Protocol}: {merged.Items.Count} items from {merged.Shards} shard(s): {string.Join(" · ", parts)}");
            Console.WriteLine($"wrote {path}");
            return 0;
        });
        return cmd;
    }

    /// <summary>The bundle (default models/sonic-mini) and its evaluation classifier (default &lt;model&gt;/classifier).</summary>
    internal static (SonicDiffusionModel Model, WorldClassifier Classifier, string ClassifierPath) LoadForEvaluation(string? modelArg, string? classifierArg, string? deviceArg)
    {
        string modelPath = GenerateCommand.ResolveModel(modelArg);
        string classifierPath = classifierArg ?? Path.Combine(modelPath, ClassifierFolder);
        if (!Directory.Exists(classifierPath))
            throw new SonicException($"{classifierPath}: no evaluation classifier; give --classifier DIR (train one with: sonic train classifier)");
        var classifierModel = WorldClassifier.Load(classifierPath);
        try
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var loaded = SonicDiffusionModel.Load(modelPath, null, new ModelLoadOptions
            {
                Device = TorchRuntime.ParseDevice(deviceArg),
                Log = n => Console.Error.WriteLine("note: " + n),
            });
            Console.WriteLine($"loaded {loaded.Source} in {sw.Elapsed.TotalSeconds:0.0} s; classifier {classifierPath}");
            return (loaded, classifierModel, classifierPath);
        }
        catch
        {
            classifierModel.Dispose();
            throw;
        }
    }
}
