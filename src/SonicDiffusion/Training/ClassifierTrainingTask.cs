using System.Globalization;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Evaluation;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Training;

/// <summary>
/// Trains a <see cref="WorldClassifier"/> on cached real images (class + intensity, augmented as
/// <see cref="ClassifierTrainingOptions"/> says). At each scheduled checkpoint, when validation images are given, it logs
/// held-out accuracy, accuracy under two colour shifts (hue 180°, channels BGR) and the intensity Spearman ρ, and appends
/// them to <c>validation.jsonl</c> in the run folder.
/// </summary>
public sealed class ClassifierTrainingTask : ITrainingTask, IDisposable
{
    public const string ValidationFile = "validation.jsonl";

    private static readonly int[][] Permutations = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    private static readonly double[] Luma = [0.299, 0.587, 0.114];

    private readonly ImageCache _images;
    private readonly ImageCache? _validation;
    private readonly Tensor _labels;
    private readonly Tensor _intensities;
    private readonly Tensor _hasIntensity;
    private readonly Action<string>? _log;

    public ClassifierTrainingOptions Options { get; }
    public WorldClassifier Classifier { get; }
    /// <summary>Scores of the last checkpoint's validation (null before the first, or without validation images).</summary>
    public ClassifierScores? LastValidation { get; private set; }

    public ClassifierTrainingTask(ImageCache images, ImageCache? validation, ClassifierTrainingOptions options, Action<string>? log = null)
    {
        Options = options.Validate();
        if (images.Resolution != options.CacheResolution)
            throw new SonicException($"classifier training: the image cache holds {images.Resolution}² images, the options ask for {options.CacheResolution}²");
        if (validation is not null && validation.Resolution != options.CacheResolution)
            throw new SonicException($"classifier training: the validation cache holds {validation.Resolution}² images, the options ask for {options.CacheResolution}²");
        _images = images;
        _validation = validation;
        _log = log;
        var labels = LabelIndices(images.Rows.Select(r => r.Label), options.Model, images.FilePath);
        _labels = torch.tensor(labels, dtype: ScalarType.Int64);
        var intensity = images.Rows.Select(r => r.Number("intensity") ?? double.NaN).ToArray();
        _hasIntensity = torch.tensor(intensity.Select(v => !double.IsNaN(v)).ToArray());
        _intensities = torch.tensor(intensity.Select(v => double.IsNaN(v) ? 0f : (float)v).ToArray());
        Classifier = new WorldClassifier(options.Model);
        Classifier.train();
    }

    /// <summary>Class index of every label; throws naming the first label the model does not know.</summary>
    public static long[] LabelIndices(IEnumerable<string> labels, WorldClassifierConfig config, string source)
    {
        return labels.Select(l =>
        {
            int i = config.LabelIndex(l);
            return i >= 0 ? i : throw new SonicException($"{source}: label '{l}' is not one of the classifier's labels ({string.Join(", ", config.Labels)})");
        }).Select(i => (long)i).ToArray();
    }

    public long DatasetSize => _images.Count;

    public IReadOnlyList<ParameterGroup> ParameterGroups => [ParameterGroup.FromModule("classifier", Classifier)];

    public JsonObject? Config => new()
    {
        ["kind"] = "classifier", ["options"] = Options.ToJson(), ["images"] = _images.Describe(),
        ["validation"] = _validation?.Describe(),
    };

    public TrainingLoss ComputeLoss(TrainingBatch batch)
    {
        using var idx = torch.tensor(batch.Indices, dtype: ScalarType.Int64);
        var x = Augment(_images.Batch(batch.Indices).add(1).div(2), batch.Generator);
        var output = Classifier.Forward(x);
        var labels = _labels.index_select(0, idx);
        var ce = F.cross_entropy(output.Logits, labels);
        var mask = _hasIntensity.index_select(0, idx).to_type(ScalarType.Float32);
        var err = (output.Intensity - _intensities.index_select(0, idx)).square().mul(mask);
        var mse = err.sum().div(mask.sum().clamp_min(1));
        var accuracy = output.Logits.argmax(1).eq(labels).to_type(ScalarType.Float32).mean();
        var total = ce + Options.IntensityWeight * mse;
        return new TrainingLoss(total, new Dictionary<string, Tensor> { ["ce"] = ce, ["intensity_mse"] = mse, ["batch_accuracy"] = accuracy.detach() });
    }

    /// <summary>Random translation (reflect padding), horizontal flip and colour transform per sample; images in [0, 1].</summary>
    public Tensor Augment(Tensor x, Generator g)
    {
        using var scope = torch.NewDisposeScope();
        long b = x.shape[0], r = x.shape[2];
        int s = Options.MaxShift;
        if (s > 0)
        {
            var padded = F.pad(x, [s, s, s, s], PaddingModes.Reflect);
            var offsets = torch.randint(0, 2 * s + 1, [b, 2], generator: g).data<long>().ToArray();
            x = torch.stack(Enumerable.Range(0, (int)b).Select(i => padded[i].narrow(1, offsets[2 * i], r).narrow(2, offsets[2 * i + 1], r)).ToArray(), 0);
        }
        var flip = (torch.rand([b], generator: g) < Options.FlipProbability).reshape(b, 1, 1, 1);
        x = torch.where(flip, x.flip(3), x);

        var u = torch.rand([b, 8], dtype: ScalarType.Float64, generator: g).data<double>().ToArray();
        var matrices = new double[b * 9];
        var bright = new float[b];
        var contrast = new float[b];
        for (int i = 0; i < b; i++)
        {
            double[] v = u.AsSpan(i * 8, 8).ToArray();
            double[,] m = { { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 } };
            bright[i] = contrast[i] = 1;
            if (v[0] < Options.ColourProbability)
            {
                double sat = v[5] < Options.GreyProbability ? 0 : Lerp(Options.Saturation, v[3]);
                m = Multiply(ColourShift.HueMatrix(v[1] * 2 * Math.PI), Saturation(sat));
                if (v[2] < Options.PermuteProbability)
                    m = Multiply(ColourShift.ChannelPermutation(Permutations[Math.Min(5, (int)(v[4] * 6))]).Matrix, m);
                bright[i] = (float)Lerp(Options.Brightness, v[6]);
                contrast[i] = (float)Lerp(Options.Contrast, v[7]);
            }
            for (int k = 0; k < 9; k++) matrices[i * 9 + k] = m[k / 3, k % 3];
        }
        var y = ColourShift.ApplyMatrices(x, torch.tensor(matrices, [b, 3, 3], dtype: ScalarType.Float32));
        var bt = torch.tensor(bright).reshape(b, 1, 1, 1);
        var ct = torch.tensor(contrast).reshape(b, 1, 1, 1);
        y = y.mul(bt);
        var mean = y.mean([1, 2, 3], keepdim: true);
        y = y.sub(mean).mul(ct).add(mean).clamp(0, 1);
        return y.MoveToOuterDisposeScope();
    }

    private static double Lerp(double[] range, double t) => range[0] + (range[1] - range[0]) * t;

    private static double[,] Saturation(double s)
    {
        var m = new double[3, 3];
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                m[r, c] = (1 - s) * Luma[c] + (r == c ? s : 0);
        return m;
    }

    private static double[,] Multiply(double[,] a, double[,] b)
    {
        var m = new double[3, 3];
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                for (int k = 0; k < 3; k++)
                    m[r, c] += a[r, k] * b[k, c];
        return m;
    }

    /// <summary>Scores the classifier on cached images (all of them, or the first <paramref name="max"/>).</summary>
    public ClassifierScores Score(ImageCache images, IReadOnlyList<ColourShift>? shifts = null, int? max = null)
    {
        long n = Math.Min(images.Count, max ?? long.MaxValue);
        var labels = images.Rows.Take((int)n).Select(r => Options.Model.LabelIndex(r.Label)).ToList();
        var intensities = images.Rows.Take((int)n).Select(r => r.Number("intensity") ?? double.NaN).ToList();
        using var x = images.Images.narrow(0, 0, n);
        return ClassifierValidation.Score(Classifier, x, labels, intensities, shifts);
    }

    public void OnCheckpoint(Trainer trainer, string checkpointDirectory)
    {
        if (!trainer.AtScheduledCheckpoint || _validation is null) return;
        using var ema = trainer.Ema?.SwapIn();
        var scores = Score(_validation, [ColourShift.HueRotation(180), ColourShift.ChannelPermutation(2, 1, 0)]);
        LastValidation = scores;
        _log?.Invoke($"step {trainer.Step}: held-out {scores}");
        var line = new JsonObject
        {
            ["step"] = trainer.Step, ["count"] = scores.Count, ["accuracy"] = scores.Accuracy,
            ["colour_shifted_accuracy"] = scores.ColourShiftedAccuracy, ["intensity_spearman"] = double.IsNaN(scores.IntensitySpearman) ? null : scores.IntensitySpearman,
        };
        File.AppendAllText(Path.Combine(trainer.RunDirectory, ValidationFile), line.ToJsonString() + "\n");
    }

    /// <summary>Writes the classifier folder (EMA weights when the run has them).</summary>
    public void Export(Trainer trainer, string dir, ScalarType dtype = ScalarType.Float16)
    {
        using var ema = trainer.Ema?.SwapIn();
        Classifier.Save(dir, dtype);
    }

    public void Dispose()
    {
        Classifier.Dispose();
        _labels.Dispose();
        _intensities.Dispose();
        _hasIntensity.Dispose();
    }
}
