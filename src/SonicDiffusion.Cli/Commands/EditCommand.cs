using System.CommandLine;
using System.Globalization;
using SonicDiffusion.Core;
using SonicDiffusion.Imaging;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Sharding;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Cli.Commands;

/// <summary>`sonic edit`: audio-guided editing of real images (DDIM inversion + Plug-and-Play injection).</summary>
public static class EditCommand
{
    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"];

    public static Command Create()
    {
        var image = new Option<string?>("--image") { Description = "The photo to edit, or a folder of photos" };
        var data = new Option<string?>("--data") { Description = "Instead of --image/--audio: a manifest (.jsonl/.csv) of edits, one per row (columns image, and audio or prompt; optional seed, label) into the --out folder; --shard I/N splits the rows" };
        var sharding = new ShardOptions();
        var audio = new Option<string?>("--audio") { Description = "The sound that drives the edit (a file or a folder of sounds); omit for text-only PnP with --prompt" };
        var prompt = new Option<string>("--prompt") { Description = "Text prompt of the conditional branch (default none, as the official demo)", DefaultValueFactory = _ => "" };
        var negative = new Option<string>("--negative-prompt") { Description = "Text of the unconditional branch", DefaultValueFactory = _ => "" };
        var feature = new Option<double>("--feature-injection") { Description = "Fraction of steps with residual-feature injection (official demo 0.8)", DefaultValueFactory = _ => 0.8 };
        var attn = new Option<double>("--attn-injection") { Description = "Fraction of steps with self-attention q/k injection (official demo 0.8)", DefaultValueFactory = _ => 0.8 };
        var featureSites = CommonOptions.FeatureSites();
        var guidance = CommonOptions.Guidance(7.5);
        var steps = CommonOptions.Steps(50);
        steps.Description = "DDIM steps of the inversion and of the edit";
        var beta = new Option<double?>("--beta") { Description = "Audio strength β at every adapter site (default: the model's)" };
        var seed = CommonOptions.Seed();
        seed.Description = "Recorded in the PNG (deterministic DDIM from the inverted noise draws nothing)";
        var fit = new Option<string>("--fit") { Description = "resize (official: shorter side to the native size, aspect kept), crop (centre square) or pad", DefaultValueFactory = _ => "resize" };
        var model = new Option<string?>("--model") { Description = $"SonicDiffusion model bundle, or an SD v1 model used with --sonic (default {GenerateCommand.DefaultModel})" };
        var sonic = new Option<string?>("--sonic") { Description = "Official SonicDiffusion files (folder or comma-separated files)" };
        var output = new Option<string?>("--out") { Description = "Output folder (default sonic-edit/), or a .png file for one image and one sound" };
        var sheet = new Option<bool>("--sheet") { Description = "Also write <image>_sheet.png per image: source | one edit per sound" };
        var cache = new Option<string?>("--cache") { Description = $"Inversion cache folder (default {InversionCache.DefaultDirectory})" };
        var noCache = new Option<bool>("--no-cache") { Description = "Invert again, and keep nothing on disk" };
        var device = CommonOptions.Device();
        var dtype = CommonOptions.Dtype();
        var vaeTiling = CommonOptions.VaeTiling();
        var threads = CommonOptions.TorchThreads();
        var cmd = new Command("edit", "Edit a photo with a sound (SonicDiffusion: DDIM inversion + Plug-and-Play feature injection)")
        {
            image, data, audio, prompt, negative, feature, attn, featureSites, guidance, steps, beta, seed, fit, model, sonic, output, sheet, cache, noCache, device, dtype, vaeTiling, threads,
        };
        sharding.AddTo(cmd);
        cmd.SetAction(pr =>
        {
            CommonOptions.ApplyTorchThreads(pr.GetValue(threads));
            var imageArg = pr.GetValue(image);
            var audioArg = pr.GetValue(audio);
            var dataArg = pr.GetValue(data);
            if ((imageArg is null) == (dataArg is null)) throw new SonicException("give --image (a photo or a folder of photos) or --data (a manifest of edits), one of them");
            ShardSpec? shard = null;
            Data.DatasetManifest? manifest = null;
            if (dataArg is not null)
            {
                if (audioArg is not null) throw new SonicException("--data takes each row's sound from its audio column: --audio does not apply");
                if (pr.GetValue(output) is not { } o || o.EndsWith(".png", StringComparison.OrdinalIgnoreCase)) throw new SonicException("--data needs --out FOLDER");
                if (pr.GetValue(sheet)) throw new SonicException("--data does not write a --sheet");
                shard = sharding.Resolve(pr);
                manifest = ManifestEditing.ReadManifest(dataArg);
            }
            else if (pr.GetValue(sharding.Shard) is not null || pr.GetValue(sharding.Shards) is not null)
                throw new SonicException("--shard/--shards split the rows of a --data manifest; they do not apply to --image");
            var fitMode = pr.GetValue(fit)!.Trim().ToLowerInvariant() switch
            {
                "resize" => ImageFit.Resize, "crop" => ImageFit.Crop, "pad" => ImageFit.Pad,
                var f => throw new SonicException($"--fit {f}: use resize, crop or pad"),
            };
            if (manifest is null && audioArg is null && string.IsNullOrWhiteSpace(pr.GetValue(prompt)))
                throw new SonicException("--audio: no sound given (text-only editing needs --prompt)");
            var images = manifest is null ? ListImages(imageArg!) : [manifest.ImagePath(manifest.Rows[0])];
            IReadOnlyList<string?> sounds = audioArg is null ? new string?[] { null } : GenerateCommand.ListSounds(audioArg).Cast<string?>().ToList();
            var baseRequest = new ImageEditRequest
            {
                Image = images[0], Audio = sounds[0], Prompt = pr.GetValue(prompt)!, NegativePrompt = pr.GetValue(negative)!,
                Steps = pr.GetValue(steps), Guidance = pr.GetValue(guidance), FeatureInjection = pr.GetValue(feature), AttnInjection = pr.GetValue(attn),
                Seed = pr.GetValue(seed), Fit = fitMode, FeatureSites = CommonOptions.ParseFeatureSites(pr.GetValue(featureSites)),
            };
            baseRequest.Validate();
            var outArg = pr.GetValue(output);
            bool singleFile = outArg != null && outArg.EndsWith(".png", StringComparison.OrdinalIgnoreCase);
            if (singleFile && images.Count * sounds.Count != 1) throw new SonicException($"--out {outArg}: several edits need an output folder");
            var outDir = singleFile ? Path.GetDirectoryName(Path.GetFullPath(outArg!))! : outArg ?? "sonic-edit";
            if (File.Exists(outDir)) throw new SonicException($"--out {outDir}: is a file, not a folder");
            if (singleFile && !Directory.Exists(outDir)) throw new SonicException($"--out {outArg}: folder '{outDir}' does not exist");
            Directory.CreateDirectory(outDir);

            var options = new ModelLoadOptions
            {
                Device = TorchRuntime.ParseDevice(pr.GetValue(device)),
                Dtype = CommonOptions.ParseDtype(pr.GetValue(dtype)!, pr.GetValue(device)),
                VaeTiling = CommonOptions.ParseVaeTiling(pr.GetValue(vaeTiling)),
                Log = n => Console.Error.WriteLine("note: " + n),
            };
            var sonicFiles = pr.GetValue(sonic) is { } s ? OfficialSonicFiles.Resolve(s) : null;
            var sw = System.Diagnostics.Stopwatch.StartNew();
            using var loaded = SonicDiffusionModel.Load(pr.GetValue(model) ?? GenerateCommand.DefaultModel, sonicFiles, options);
            Console.WriteLine($"loaded {loaded.Source} in {sw.Elapsed.TotalSeconds:0.0} s");
            var cfg = loaded.Adapters.Config;
            baseRequest = baseRequest with { Beta = pr.GetValue(beta) ?? cfg.Beta, BetaSites = pr.GetValue(beta) is null ? cfg.BetaSites : null };
            if (!baseRequest.TextOnly) loaded.Adapters.BetaMap(baseRequest.Beta, baseRequest.BetaSites);
            var pipeline = new ImageEditPipeline(loaded, pr.GetValue(noCache) ? null : new InversionCache(pr.GetValue(cache) ?? InversionCache.DefaultDirectory));
            pipeline.CheckRequest(baseRequest);
            if (manifest is not null)
            {
                sw.Restart();
                var result = ConsoleProgress.Run(p => ManifestEditing.Run(pipeline, manifest, baseRequest, shard!, outDir, p, line => Console.Error.WriteLine(line), CliContext.Cancellation));
                pipeline.Audio?.ClearCache();
                Console.WriteLine($"wrote {result.Written} edit(s) to {outDir}, {result.Skipped} already there, {result.Failed} failed: {result.Rows} of {manifest.Rows.Count} rows of {dataArg} ({shard}, {sw.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s)");
                return result.Failed == 0 ? 0 : 1;
            }

            int written = 0, failed = 0;
            sw.Restart();
            ConsoleProgress.Run(p =>
            {
                foreach (var imagePath in images)
                {
                    var ct = CliContext.Cancellation;
                    ct.ThrowIfCancellationRequested();
                    var stem = Path.GetFileNameWithoutExtension(imagePath);
                    var tiles = new List<Tensor>();
                    try
                    {
                        using var source = pipeline.Prepare(imagePath, fitMode);
                        var chain = pipeline.Invert(source, baseRequest.Steps, p, ct);
                        using var sourceFeatures = sounds.Count > 1 ? new PnpSourceFeatures() : null;
                        try
                        {
                            if (pipeline.LastInversionCached) Console.Error.WriteLine($"note: {imagePath}: inversion loaded from the cache");
                            foreach (var sound in sounds)
                            {
                                var req = baseRequest with { Image = imagePath, Audio = sound };
                                var edited = pipeline.Edit(source, chain, req, p, ct, sourceFeatures: sourceFeatures);
                                tiles.Add(edited);
                                var target = singleFile ? outArg! : Path.Combine(outDir, sound is null ? $"{stem}_text.png" : $"{stem}_{Path.GetFileNameWithoutExtension(sound)}.png");
                                ImageTensor.SavePng(edited, target, pipeline.Metadata(req).Append(new("software", "SonicDiffusion.NET edit")));
                                written++;
                            }
                        }
                        finally
                        {
                            foreach (var t in chain) t.Dispose();
                        }
                        if (pr.GetValue(sheet))
                        {
                            var g = source.Geometry;
                            using var src = source.Image.narrow(2, g.CropTop, g.CropHeight).narrow(3, g.CropLeft, g.CropWidth);
                            using var row = torch.cat(tiles.Prepend(src).ToArray(), 3);
                            var meta = new List<KeyValuePair<string, string>>
                            {
                                new("source_image", imagePath),
                                new("sheet", "source," + string.Join(",", sounds.Select(x => x ?? "text:" + baseRequest.Prompt))),
                                new("software", "SonicDiffusion.NET edit --sheet"),
                            };
                            ImageTensor.SavePng(row, Path.Combine(outDir, $"{stem}_sheet.png"), meta);
                        }
                    }
                    catch (SonicException e) when (images.Count > 1)
                    {
                        failed++;
                        Console.Error.WriteLine($"skipped: {e.Message}");
                    }
                    finally
                    {
                        foreach (var t in tiles) t.Dispose();
                    }
                }
                return 0;
            });
            pipeline.Audio?.ClearCache();
            Console.WriteLine($"wrote {written} edit{(written == 1 ? "" : "s")} to {(singleFile ? outArg : outDir)} ({sw.Elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s)");
            return failed == 0 ? 0 : 1;
        });
        return cmd;
    }

    /// <summary>The photos to edit: the file itself, or the folder's images (by extension, sorted).</summary>
    public static List<string> ListImages(string path)
    {
        if (File.Exists(path)) return [path];
        if (!Directory.Exists(path)) throw new SonicException($"--image {path}: no such file or folder");
        var files = Directory.GetFiles(path).Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new SonicException($"--image {path}: the folder has no images ({string.Join(", ", ImageExtensions)})");
        return files;
    }
}
