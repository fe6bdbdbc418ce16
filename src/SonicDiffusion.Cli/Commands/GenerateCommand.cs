using System.CommandLine;
using System.Globalization;
using SonicDiffusion.Core;
using SonicDiffusion.Imaging;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Sharding;

namespace SonicDiffusion.Cli.Commands;

/// <summary>`sonic generate`: one image per sound (a file, or every sound in a folder), or per row of a manifest (--data, shardable).</summary>
public static class GenerateCommand
{
    /// <summary>The bundled model a later release ships; used when --model is not given.</summary>
    public const string DefaultModel = "models/sonic-mini";

    private static readonly string[] AudioExtensions = [".wav", ".wave", ".flac", ".mp3", ".ogg", ".oga"];

    public static Command Create()
    {
        var audio = new Option<string?>("--audio") { Description = "A sound file (WAV, FLAC, MP3, Ogg Vorbis) or a folder of them" };
        var data = new Option<string?>("--data") { Description = "Instead of --audio: a manifest (.jsonl/.csv), one image per row (columns audio; optional prompt, seed, label) into the --out folder; --shard I/N splits the rows" };
        var sharding = new ShardOptions();
        var prompt = new Option<string>("--prompt") { Description = "Text prompt added to the sound (default: none, as the official demo)", DefaultValueFactory = _ => "" };
        var negative = new Option<string>("--negative-prompt") { Description = "Text of the unconditional branch", DefaultValueFactory = _ => "" };
        var model = new Option<string?>("--model") { Description = $"SonicDiffusion model bundle, or an SD v1 model used with --sonic (default {DefaultModel})" };
        var sonic = new Option<string?>("--sonic") { Description = "Official SonicDiffusion files: a folder or comma-separated files (gate dict .pt, audio_projector_*.pth, CLAP_weights_2022.pth); they replace the bundle's parts" };
        var beta = new Option<double?>("--beta") { Description = "Audio strength β at every adapter site (default: the model's, 1 for the released models)" };
        var betaSites = new Option<string?>("--beta-sites") { Description = "β per adapter site, comma-separated in site order (mid block first, then the up blocks)" };
        var guidance = CommonOptions.Guidance(7.5);
        var audioGuidance = new Option<double?>("--audio-guidance") { Description = "Separate audio guidance scale (three branches: --guidance then scales the text); default: the official joint guidance" };
        var steps = CommonOptions.Steps(50);
        var scheduler = CommonOptions.Scheduler("pndm");
        var seed = CommonOptions.Seed();
        var size = CommonOptions.Size("auto");
        size.Description = "Image size WxH or N (multiples of 8); auto = the model's native size (512 for SD v1)";
        var mix = new Option<string[]>("--mix") { Description = "Mix another sound in CLAP-embedding space, FILE:WEIGHT (repeatable; weights add up to at most 1)", DefaultValueFactory = _ => [] };
        var gain = new Option<double>("--gain") { Description = "Loudness change in dB before the audio encoder", DefaultValueFactory = _ => 0 };
        var offset = new Option<double>("--audio-offset") { Description = "Start (seconds) of the 10-s window of a longer sound", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--out") { Description = "Output PNG for one sound, or folder (default: <sound name>.png, or sonic-out/ for a folder)" };
        var count = new Option<int>("--count") { Description = "Images per sound, with seeds --seed, --seed+1, ... (files get a -s<seed> suffix when > 1)", DefaultValueFactory = _ => 1 };
        var sheet = new Option<string?>("--sheet") { Description = "Also write one contact-sheet PNG: a row per sound, a column per seed" };
        var device = CommonOptions.Device();
        var dtype = CommonOptions.Dtype();
        var vaeTiling = CommonOptions.VaeTiling();
        var threads = CommonOptions.TorchThreads();
        var cmd = new Command("generate", "Generate an image from a sound (SonicDiffusion)")
        {
            audio, prompt, negative, model, sonic, beta, betaSites, guidance, audioGuidance, steps, scheduler, seed, size, mix, gain, offset, output, count, sheet, device, dtype, vaeTiling, threads,
        };
        cmd.Options.Add(data);
        sharding.AddTo(cmd);
        cmd.SetAction(pr =>
        {
            CommonOptions.ApplyTorchThreads(pr.GetValue(threads));
            string? manifestPath = pr.GetValue(data);
            if ((manifestPath is null) == (pr.GetValue(audio) is null)) throw new SonicException("give --audio (a sound or a folder of sounds) or --data (a manifest), one of them");
            ShardSpec? shard = null;
            if (manifestPath is not null)
            {
                if (pr.GetValue(output) is null) throw new SonicException("--data needs --out FOLDER");
                if (pr.GetValue(count) != 1) throw new SonicException("--data makes one image per row: --count does not apply (give rows their own seed)");
                if (pr.GetValue(sheet) is not null) throw new SonicException("--data does not write a --sheet");
                shard = sharding.Resolve(pr);
            }
            else if (pr.GetValue(sharding.Shard) is not null || pr.GetValue(sharding.Shards) is not null)
                throw new SonicException("--shard/--shards split the rows of a --data manifest; they do not apply to --audio");
            var manifest = manifestPath is null ? null : ManifestGeneration.ReadManifest(manifestPath);
            var audioPath = pr.GetValue(audio) ?? manifest!.AudioPath(manifest.Rows[0]);
            if (pr.GetValue(beta) is not null && pr.GetValue(betaSites) is not null)
                throw new SonicException("--beta and --beta-sites: give one or the other");
            double[]? perSite = pr.GetValue(betaSites) is { } bs ? ParseList(bs, "--beta-sites") : null;
            var mixes = pr.GetValue(mix)!.Select(m => AudioMix.Parse(m)).ToList();
            foreach (var m in mixes)
                if (!File.Exists(m.Path)) throw new SonicException($"--mix {m.Path}: file not found");

            int perSound = pr.GetValue(count);
            if (perSound is < 1 or > 1000) throw new SonicException($"--count {perSound}: must be between 1 and 1000");
            var sheetPath = pr.GetValue(sheet);
            if (sheetPath != null && Path.GetDirectoryName(Path.GetFullPath(sheetPath)) is { } sheetDir && !Directory.Exists(sheetDir))
                throw new SonicException($"--sheet {sheetPath}: folder '{sheetDir}' does not exist");

            var sounds = manifest is null ? ListSounds(audioPath) : [audioPath];
            var modelPath = ResolveModel(pr.GetValue(model));
            var sonicFiles = pr.GetValue(sonic) is { } s ? OfficialSonicFiles.Resolve(s) : null;
            var options = new ModelLoadOptions
            {
                Device = TorchRuntime.ParseDevice(pr.GetValue(device)),
                Dtype = CommonOptions.ParseDtype(pr.GetValue(dtype)!, pr.GetValue(device)),
                VaeTiling = CommonOptions.ParseVaeTiling(pr.GetValue(vaeTiling)),
                Log = n => Console.Error.WriteLine("note: " + n),
            };
            var sw = System.Diagnostics.Stopwatch.StartNew();
            using var loaded = SonicDiffusionModel.Load(modelPath, sonicFiles, options);
            Console.WriteLine($"loaded {loaded.Source}{(sonicFiles is null ? "" : " + " + string.Join(", ", sonicFiles.Files.Select(Path.GetFileName)))} in {sw.Elapsed.TotalSeconds:0.0} s ({loaded.Adapters.Sites.Count} adapter sites)");

            int w, h;
            if (pr.GetValue(size) is { } sz && !sz.Equals("auto", StringComparison.OrdinalIgnoreCase)) (w, h) = CommonOptions.ParseSize(sz);
            else w = h = (loaded.Sd.Unet.Config.SampleSize ?? 64) * loaded.Sd.VaeScaleFactor;

            var cfg = loaded.Adapters.Config;
            var baseRequest = new AudioToImageRequest
            {
                Audio = sounds[0],
                Prompt = pr.GetValue(prompt)!, NegativePrompt = pr.GetValue(negative)!,
                Steps = pr.GetValue(steps), Guidance = pr.GetValue(guidance), AudioGuidance = pr.GetValue(audioGuidance),
                Beta = pr.GetValue(beta) ?? cfg.Beta,
                BetaSites = perSite ?? (pr.GetValue(beta) is null ? cfg.BetaSites : null),
                Seed = pr.GetValue(seed), Scheduler = pr.GetValue(scheduler)!, Width = w, Height = h,
                Mix = mixes, GainDb = pr.GetValue(gain), AudioOffset = pr.GetValue(offset),
            };
            baseRequest.Validate();
            loaded.Adapters.BetaMap(baseRequest.Beta, baseRequest.BetaSites);   // a wrong --beta-sites count fails before any work

            var pipeline = new AudioToImagePipeline(loaded);
            if (manifest is not null) return FromManifest(pipeline, manifest, baseRequest, shard!, pr.GetValue(output)!, manifestPath!);
            var targets = OutputPaths(audioPath, sounds, pr.GetValue(output));
            var rows = new List<ContactSheet.Row>();
            int failed = 0, written = 0;
            sw.Restart();
            ConsoleProgress.Run(p =>
            {
                for (int i = 0; i < sounds.Count; i++)
                {
                    CliContext.Cancellation.ThrowIfCancellationRequested();
                    if (sounds.Count > 1) p.Report(new ProgressInfo("sounds", i, sounds.Count, Path.GetFileName(sounds[i])));
                    var cells = new List<string>();
                    try
                    {
                        for (int k = 0; k < perSound; k++)
                        {
                            var req = baseRequest with { Audio = sounds[i], Seed = baseRequest.Seed + k };
                            string target = perSound == 1 ? targets[i] : SeedPath(targets[i], req.Seed);
                            using var image = pipeline.Generate(req, p, CliContext.Cancellation);
                            var meta = pipeline.Metadata(req).Append(new("software", "SonicDiffusion.NET generate"));
                            ImageTensor.SavePng(image, target, meta);
                            cells.Add(target);
                            written++;
                        }
                        rows.Add(new ContactSheet.Row(Path.GetFileName(sounds[i]), cells));
                    }
                    catch (SonicException e) when (sounds.Count > 1)
                    {
                        failed++;
                        Console.Error.WriteLine($"skipped: {e.Message}");
                    }
                    if (sounds.Count > 1) p.Report(new ProgressInfo("sounds", i + 1, sounds.Count, Path.GetFileName(sounds[i])));
                }
                return 0;
            });
            pipeline.ClearCache();
            Console.WriteLine(written == 1
                ? $"wrote {targets[0]} ({w}x{h}, {sw.Elapsed.TotalSeconds:0.0} s)"
                : $"wrote {written} of {sounds.Count * perSound} images to {Path.GetDirectoryName(Path.GetFullPath(targets[0]))} ({w}x{h}, {sw.Elapsed.TotalSeconds:0.0} s)");
            if (sheetPath != null && rows.Count > 0)
            {
                ContactSheet.Write(sheetPath, rows, [
                    new("software", "SonicDiffusion.NET generate"),
                    new("layout", $"one row per sound, one column per seed ({baseRequest.Seed}..{baseRequest.Seed + perSound - 1})"),
                    new("rows", string.Join(", ", rows.Select(r => r.Name))),
                    .. pipeline.Metadata(baseRequest).Where(kv => kv.Key is not ("audio" or "seed")),
                ]);
                Console.WriteLine($"wrote {sheetPath} ({rows.Count} × {perSound})");
            }
            return failed == 0 ? 0 : 1;
        });
        return cmd;
    }

    private static int FromManifest(AudioToImagePipeline pipeline, Data.DatasetManifest manifest, AudioToImageRequest baseRequest, ShardSpec shard, string outDir, string manifestPath)
    {
        if (File.Exists(outDir)) throw new SonicException($"--out {outDir}: is a file; --data needs an output folder");
        foreach (var issue in manifest.Issues) Console.Error.WriteLine($"warning: skipped manifest row: {issue}");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var result = ConsoleProgress.Run(p => ManifestGeneration.Run(pipeline, manifest, baseRequest, shard, outDir, p, line => Console.Error.WriteLine(line), CliContext.Cancellation));
        pipeline.ClearCache();
        Console.WriteLine($"wrote {result.Written} image(s) to {outDir}, {result.Skipped} already there, {result.Failed} failed: {result.Rows} of {manifest.Rows.Count} rows of {manifestPath} ({shard}, {sw.Elapsed.TotalSeconds:0.0} s)");
        return result.Failed == 0 ? 0 : 1;
    }

    /// <summary>x.png → x-s&lt;seed&gt;.png.</summary>
    public static string SeedPath(string path, long seed) =>
        Path.Combine(Path.GetDirectoryName(path) ?? "", Path.GetFileNameWithoutExtension(path) + "-s" + seed.ToString(CultureInfo.InvariantCulture) + Path.GetExtension(path));

    private static double[] ParseList(string s, string option)
    {
        var parts = s.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var values = new double[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out values[i]) || !double.IsFinite(values[i]))
                throw new SonicException($"{option} {s}: '{parts[i]}' is not a number");
        if (values.Length == 0) throw new SonicException($"{option}: no values");
        return values;
    }

    /// <summary>The sound files to render: the file itself, or the folder's audio files (by extension, sorted).</summary>
    public static List<string> ListSounds(string path)
    {
        if (File.Exists(path)) return [path];
        if (!Directory.Exists(path)) throw new SonicException($"--audio {path}: no such file or folder");
        var files = Directory.GetFiles(path).Where(f => AudioExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
            .Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0) throw new SonicException($"--audio {path}: the folder has no sound files ({string.Join(", ", AudioExtensions)})");
        return files;
    }

    /// <summary>--model, or the bundled default model when it is installed.</summary>
    internal static string ResolveModel(string? given)
    {
        if (given != null) return given;
        foreach (var candidate in new[] { DefaultModel, Path.Combine(AppContext.BaseDirectory, DefaultModel) })
            if (SonicDiffusionModel.IsBundle(candidate)) return candidate;   // a folder holding only classifier/ is not installed yet
        throw new SonicException($"{DefaultModel}: the default model is not installed; give --model DIR (a SonicDiffusion bundle, or an SD v1 model together with --sonic for the official files)");
    }

    /// <summary>One PNG path per sound: a single sound → --out (file or folder) or &lt;name&gt;.png; a folder → --out/ (default sonic-out/).</summary>
    public static List<string> OutputPaths(string audioArg, IReadOnlyList<string> sounds, string? output)
    {
        bool single = File.Exists(audioArg);
        if (single)
        {
            string name = Path.GetFileNameWithoutExtension(sounds[0]) + ".png";
            if (output is null) return [name];
            if (Directory.Exists(output) || output.EndsWith('/') || output.EndsWith(Path.DirectorySeparatorChar))
            {
                Directory.CreateDirectory(output);
                return [Path.Combine(output, name)];
            }
            var parent = Path.GetDirectoryName(Path.GetFullPath(output));
            if (parent != null && !Directory.Exists(parent)) throw new SonicException($"--out {output}: folder '{parent}' does not exist");
            return [output];
        }
        var dir = output ?? "sonic-out";
        if (File.Exists(dir)) throw new SonicException($"--out {dir}: is a file; a folder of sounds needs an output folder");
        Directory.CreateDirectory(dir);
        var stems = sounds.Select(s => Path.GetFileNameWithoutExtension(s)).ToList();
        return sounds.Select((s, i) =>
        {
            string stem = stems[i];
            if (stems.Count(x => x == stem) > 1) stem += "_" + Path.GetExtension(s).TrimStart('.').ToLowerInvariant();
            return Path.Combine(dir, stem + ".png");
        }).ToList();
    }
}
