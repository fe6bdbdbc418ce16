using System.Globalization;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.Imaging;
using SonicDiffusion.Models;
using SonicDiffusion.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Evaluation;

/// <summary>The models of the paper protocol; Wav2CLIP and ViT-B/32 only for AIS, Inception only for FID.</summary>
public sealed record PaperModels(ClipModel ClipL14, ClipModel? ClipB32, Wav2Clip? Wav2Clip, FidInceptionV3? Inception, bool Wav2ClipResample = false)
{
    /// <summary>Where per-file embeddings are kept between runs; null = none.</summary>
    public EmbeddingCache? Cache { get; init; }
}

/// <summary>What <see cref="PaperEvaluator.Score"/> returns: per-image scores, means, and the FID statistics of both sets.</summary>
public sealed record PaperScores(IReadOnlyList<PaperItemScore> Items, double? Ais, double Iis, double Aic, double? Fid,
    FeatureMoments? GeneratedMoments, FeatureMoments? DatasetMoments, IReadOnlyList<string> Classes);

/// <summary>
/// The paper's four numbers (official <c>evaluation.py</c>, spec §8) on a folder of generated images paired with a
/// manifest: AIS (Wav2CLIP audio vs ViT-B/32 image, ranked against the reference audio set), IIS (ViT-L/14 generated vs
/// dataset image, ranked against the reference image set), AIC (zero-shot ViT-L/14 on the raw labels) and FID
/// (pytorch-fid Inception pool3, generated vs the paired dataset images).
/// </summary>
public sealed class PaperEvaluator
{
    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg"];
    private readonly PaperModels _models;

    public PaperEvaluator(PaperModels models) => _models = models;

    /// <summary>
    /// The official pairing: images under <paramref name="dir"/> (recursively) sorted by path, without paths containing
    /// "inversion" or names starting with "source"; rows sorted by audio path. Image k goes with row k.
    /// </summary>
    public static (List<string> Images, List<ManifestRow> Rows) Pair(string dir, DatasetManifest manifest, IReadOnlyList<ManifestRow> rows)
    {
        if (!Directory.Exists(dir)) throw new SonicException($"{dir}: images folder not found");
        var images = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
            .Where(p => ImageExtensions.Contains(Path.GetExtension(p).ToLowerInvariant()))
            .Where(p => !p.Contains("inversion", StringComparison.Ordinal) && !Path.GetFileName(p).StartsWith("source", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToList();
        var sorted = rows.OrderBy(r => manifest.AudioPath(r), StringComparer.Ordinal).ToList();
        if (images.Count != sorted.Count)
            throw new SonicException($"{dir}: {images.Count} images for {sorted.Count} manifest rows; the paper protocol pairs image k with the k-th row by sorted audio path, so the counts must match");
        return (images, sorted);
    }

    /// <summary>The clip Wav2CLIP gets: the paper's 44.1 kHz, 442 763 samples (the official quirk), or with resampling 16 kHz of the same duration.</summary>
    public Tensor LoadAudio(string path)
    {
        var clip = AudioReader.Read(path);
        using var mono = torch.tensor(clip.ToMono());
        int rate = _models.Wav2ClipResample ? Wav2Clip.NativeSampleRate : Wav2Clip.PaperSampleRate;
        using var resampled = clip.SampleRate == rate ? mono.alias() : Resampler.Resample(mono, clip.SampleRate, rate);
        long length = _models.Wav2ClipResample ? (long)Math.Round(Wav2Clip.PaperSamples * (double)Wav2Clip.NativeSampleRate / Wav2Clip.PaperSampleRate) : Wav2Clip.PaperSamples;
        long n = resampled.shape[0];
        return n >= length ? resampled.narrow(0, 0, length).contiguous() : nn.functional.pad(resampled, new long[] { 0, length - n });
    }

    /// <summary>L2-normalised Wav2CLIP embeddings [N, D] of audio files, standardised over all of them as the official code's one batch.</summary>
    public Tensor EmbedAudio(IReadOnlyList<string> paths, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default)
    {
        var model = _models.Wav2Clip ?? throw new SonicException("AIS needs --wav2clip");
        var waves = new List<Tensor>();
        try
        {
            for (int i = 0; i < paths.Count; i++)
            {
                ct.ThrowIfCancellationRequested();
                waves.Add(LoadAudio(paths[i]));
                progress?.Report(new ProgressInfo("reading audio", i + 1, paths.Count));
            }
            var (mean, std) = model.Standardization(waves);
            var rows = new List<Tensor>();
            try
            {
                for (int i = 0; i < waves.Count; i++)
                {
                    rows.Add(EmbedClip(paths[i], waves[i], mean, std));
                    progress?.Report(new ProgressInfo("Wav2CLIP audio", i + 1, paths.Count));
                }
                using var embeddings = torch.cat(rows, 0);
                return ClipZeroShot.Normalize(embeddings);
            }
            finally
            {
                foreach (var r in rows) r.Dispose();
            }
        }
        finally
        {
            foreach (var w in waves) w.Dispose();
        }
    }

    /// <summary>One clip's Wav2CLIP embedding [1, D] (not normalised) under a batch standardisation, through the embedding cache when there is one.</summary>
    public Tensor EmbedClip(string path, Tensor wave, double mean, double std)
    {
        var model = _models.Wav2Clip ?? throw new SonicException("AIS needs --wav2clip");
        if (_models.Cache is not { } cache) return model.EmbedStandardized(wave, mean, std);
        string variant = string.Create(CultureInfo.InvariantCulture, $"wav2clip:{(_models.Wav2ClipResample ? "16k" : "44.1k-official")}:{mean:R}:{std:R}");
        return cache.GetOrCompute(model.Source, variant, path, () => model.EmbedStandardized(wave, mean, std));
    }

    /// <summary>L2-normalised CLIP image embeddings [N, D] (CLIP preprocessing at the model's input size), through <paramref name="cache"/> when given.</summary>
    public static Tensor EmbedImages(ClipModel model, IReadOnlyList<string> paths, string stage, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default,
        EmbeddingCache? cache = null)
    {
        var rows = new List<Tensor>();
        try
        {
            for (int i = 0; i < paths.Count; i++)
            {
                ct.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                string path = paths[i];
                Tensor Compute() => ClipZeroShot.Normalize(model.EncodeImage(ClipImagePreprocess.FromFile(path, model.ImageSize).unsqueeze(0)));
                var embedding = cache is null ? Compute() : cache.GetOrCompute(model.Source, $"clip-image:{model.ImageSize}", path, Compute);
                rows.Add(embedding.MoveToOuterDisposeScope());
                progress?.Report(new ProgressInfo(stage, i + 1, paths.Count));
            }
            return torch.cat(rows, 0);
        }
        finally
        {
            foreach (var r in rows) r.Dispose();
        }
    }

    /// <summary>pytorch-fid statistics of image files (each decoded to RGB in [0, 1], one at a time).</summary>
    public FeatureMoments InceptionMoments(IReadOnlyList<string> paths, string stage, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default)
    {
        var model = _models.Inception ?? throw new SonicException("FID needs --inception");
        var moments = new FeatureMoments(model.FeatureDim);
        for (int i = 0; i < paths.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            using var scope = torch.NewDisposeScope();
            moments.Add(InceptionFeatures(paths[i]));
            progress?.Report(new ProgressInfo(stage, i + 1, paths.Count));
        }
        return moments;
    }

    /// <summary>pytorch-fid pool3 features [1, 2048] of one image file, through the embedding cache when there is one.</summary>
    public Tensor InceptionFeatures(string path)
    {
        var model = _models.Inception ?? throw new SonicException("FID needs --inception");
        Tensor Compute() => model.Features(ImageTensor.Load(path));
        return _models.Cache is { } cache ? cache.GetOrCompute(model.Source, "inception-pool3", path, Compute) : Compute();
    }

    /// <summary>Scores generated images against their rows (already paired, see <see cref="Pair"/>).</summary>
    public PaperScores Score(DatasetManifest manifest, IReadOnlyList<string> images, IReadOnlyList<ManifestRow> rows, PaperReferenceSet refs,
        IReadOnlyList<string> classes, IProgress<ProgressInfo>? progress = null, CancellationToken ct = default)
    {
        using var inference = torch.inference_mode();
        using var scope = torch.NewDisposeScope();
        var datasetImages = rows.Select(manifest.ImagePath).ToList();
        double[]? ais = null;
        if (_models.Wav2Clip != null && _models.ClipB32 != null)
        {
            var audio = EmbedAudio(rows.Select(manifest.AudioPath).ToList(), progress, ct);
            var imgB = EmbedImages(_models.ClipB32, images, "ViT-B/32 images", progress, ct, _models.Cache);
            ais = PaperRanking.Scores(imgB, audio, refs.Audio);
        }
        var genL = EmbedImages(_models.ClipL14, images, "ViT-L/14 generated", progress, ct, _models.Cache);
        var dataL = EmbedImages(_models.ClipL14, datasetImages, "ViT-L/14 dataset", progress, ct, _models.Cache);
        var iis = PaperRanking.Scores(genL, dataL, refs.Images);
        var labels = ClipZeroShot.LabelEmbeddings(_models.ClipL14, ClipTokenizer.Default, classes);
        var predicted = ClipZeroShot.Predict(genL, labels);

        var items = new List<PaperItemScore>();
        for (int i = 0; i < images.Count; i++)
        {
            string p = classes[(int)predicted[i]];
            items.Add(new PaperItemScore(i, images[i], rows[i].Audio, rows[i].Label, ais?[i], iis[i], p, p == rows[i].Label));
        }
        FeatureMoments? gen = null, data = null;
        double? fid = null;
        if (_models.Inception != null)
        {
            gen = InceptionMoments(images, "Inception generated", progress, ct);
            data = InceptionMoments(datasetImages, "Inception dataset", progress, ct);
            fid = FeatureMoments.Fid(gen, data);
        }
        return new PaperScores(items, ais?.Average(), iis.Average(), items.Average(x => x.AicCorrect ? 1.0 : 0.0), fid, gen, data, classes);
    }
}
