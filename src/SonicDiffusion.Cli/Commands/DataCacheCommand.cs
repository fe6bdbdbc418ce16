using System.CommandLine;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Training;
using SonicDiffusion.Sharding;

namespace SonicDiffusion.Cli.Commands;

/// <summary>
/// <c>sonic data cache</c>: preprocesses a manifest once with the frozen encoders for <c>sonic train stage1|stage2</c>:
/// CLAP embeddings (K crops per clip), CLIP token embeddings per caption and of "", VAE latents of the centre-cropped
/// image and of its mirror. Each file is keyed by its encoder's weights, so new weights build a new cache.
/// </summary>
public static class DataCacheCommand
{
    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "Dataset manifest (.jsonl or .csv)", Required = true };
        var model = new Option<string>("--model") { Description = "Stable Diffusion v1 diffusers folder or SonicDiffusion bundle (text_encoder/, vae/)", Required = true };
        var encoder = new Option<string?>("--audio-encoder") { Description = "CLAP audio encoder folder (default: <model>/audio_encoder)" };
        var crops = new Option<int>("--crops") { Description = "CLAP crops per clip (crop 0 = the inference window; others: evenly spaced windows or loop phases)", DefaultValueFactory = _ => 2 };
        var split = new Option<string?>("--split") { Description = "Only this split (default: all rows)" };
        var noLatents = new Option<bool>("--no-latents") { Description = "Skip the VAE latents (stage 1 does not need them)" };
        var resolution = new Option<int?>("--resolution") { Description = "Image resolution of the latents (default: the VAE's sample_size)" };
        var cache = new Option<string?>("--cache") { Description = "Cache folder (default: cache/ next to the manifest)" };
        var threads = new Option<int>("--threads") { Description = "Worker threads for decoding images", DefaultValueFactory = _ => Environment.ProcessorCount };
        var sharding = new ShardOptions();
        var cmd = new Command("cache", "Preprocess a manifest for SonicDiffusion training: CLAP embeddings, CLIP token embeddings, VAE latents (+ mirrored), keyed by the encoders' weights");
        foreach (var o in new Option[] { data, model, encoder, crops, split, noLatents, resolution, cache, threads }) cmd.Options.Add(o);
        sharding.AddTo(cmd);
        cmd.SetAction(pr =>
        {
            var manifest = DatasetManifest.Read(pr.GetValue(data)!);
            if (manifest.Issues.Count > 0)
                Console.Error.WriteLine($"warning: skipping {manifest.Issues.Count} bad manifest row(s) (first: {manifest.Issues[0]})");
            var rows = pr.GetValue(split) is { } s ? manifest.Rows.Where(r => r.Split == s).ToList() : manifest.Rows.ToList();
            if (rows.Count == 0) throw new SonicException($"{manifest.FilePath}: no rows{(pr.GetValue(split) is { } sp ? $" in split '{sp}'" : "")}");
            string dir = pr.GetValue(cache) ?? Path.Combine(manifest.BaseDirectory, "cache");
            var shard = sharding.Resolve(pr);
            if (shard.IsSharded)
            {
                var part = ConsoleProgress.Run(p => SonicDataCache.BuildShard(manifest, rows, pr.GetValue(model)!, pr.GetValue(encoder), pr.GetValue(crops),
                    !pr.GetValue(noLatents), pr.GetValue(resolution), dir, shard, p, Console.WriteLine, pr.GetValue(threads), CliContext.Cancellation));
                Console.WriteLine($"cache part ready ({shard}): {part.Rows} of {rows.Count} rows, {part.ClapClips} clips × {part.Crops} CLAP crops ({part.Dim}-d)" +
                    (part.Latents is { } n ? $", {part.Images} images and {n} × 2 latents" : "") +
                    $" in {dir}; once every shard is done, `sonic data cache` without --shard (or training) assembles the whole cache");
                return 0;
            }
            using var cached = ConsoleProgress.Run(p => SonicDataCache.LoadOrBuild(manifest, rows, pr.GetValue(model)!, pr.GetValue(encoder), pr.GetValue(crops),
                !pr.GetValue(noLatents), pr.GetValue(resolution), dir, p, Console.WriteLine, pr.GetValue(threads), CliContext.Cancellation));
            Console.WriteLine($"cache ready: {cached.Rows.Count} of {rows.Count} rows ({cached.SkippedAudio} unreadable audio, {cached.SkippedImages} unreadable images skipped), " +
                $"{cached.Clap.Count} CLAP embeddings ({cached.Clap.Dim}-d), {cached.Tokens.Captions.Count} captions × {cached.Tokens.SequenceLength}×{cached.Tokens.Hidden}" +
                (cached.Latents is { } l ? $", {l.Count} × 2 latents [{string.Join(",", l.Latents.shape.Skip(2))}]" : "") + $" in {dir}");
            return 0;
        });
        return cmd;
    }
}
