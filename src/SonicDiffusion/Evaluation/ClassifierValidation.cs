using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Evaluation;

/// <summary>Held-out figures of a <see cref="WorldClassifier"/>.</summary>
public sealed record ClassifierScores(int Count, double Accuracy, double ColourShiftedAccuracy, IReadOnlyDictionary<string, double> PerShift, double IntensitySpearman)
{
    public override string ToString() => System.FormattableString.Invariant(
        $"accuracy {Accuracy:P1}, colour-shifted {ColourShiftedAccuracy:P1} ({PerShift.Count} shifts), intensity Spearman {IntensitySpearman:F3} (n = {Count})");
}

/// <summary>Scores a classifier on real images: accuracy, accuracy under colour shifts, intensity Spearman ρ.</summary>
public static class ClassifierValidation
{
    /// <param name="images">uint8 [N, 3, R, R] (an image cache) or float [N, 3, H, W] in [0, 1].</param>
    /// <param name="labels">Class index per image (−1 = unknown: left out of accuracy).</param>
    /// <param name="intensities">Intensity per image (NaN = unknown: left out of ρ).</param>
    /// <param name="shifts">Colour shifts to average over (default <see cref="ColourShift.Standard"/>).</param>
    public static ClassifierScores Score(WorldClassifier classifier, Tensor images, IReadOnlyList<int> labels, IReadOnlyList<double> intensities,
        IReadOnlyList<ColourShift>? shifts = null, int batchSize = 64)
    {
        shifts ??= ColourShift.Standard;
        long n = images.shape[0];
        var correct = new Dictionary<string, int>();
        int plain = 0;
        var predicted = new double[n];
        using var noGrad = torch.no_grad();
        for (long s = 0; s < n; s += batchSize)
        {
            using var scope = torch.NewDisposeScope();
            long b = Math.Min(batchSize, n - s);
            var x = images.narrow(0, s, b);
            x = x.dtype == ScalarType.Byte ? x.to_type(ScalarType.Float32).div(255) : x.to_type(ScalarType.Float32);
            using (var o = classifier.Predict(x, batchSize))
            {
                plain += Count(o.Logits, labels, s);
                var p = o.Intensity.data<float>().ToArray();
                for (int i = 0; i < b; i++) predicted[s + i] = p[i];
            }
            foreach (var shift in shifts)
            {
                using var o = classifier.Predict(shift.Apply(x), batchSize);
                correct[shift.Name] = correct.GetValueOrDefault(shift.Name) + Count(o.Logits, labels, s);
            }
        }
        int known = labels.Count(l => l >= 0);
        double Acc(int c) => known == 0 ? double.NaN : (double)c / known;
        var perShift = correct.ToDictionary(kv => kv.Key, kv => Acc(kv.Value));
        var withIntensity = Enumerable.Range(0, (int)n).Where(i => !double.IsNaN(intensities[i])).ToList();
        double rho = Spearman.Rho(withIntensity.Select(i => intensities[i]).ToList(), withIntensity.Select(i => predicted[i]).ToList());
        return new ClassifierScores((int)n, Acc(plain), perShift.Count == 0 ? double.NaN : perShift.Values.Average(), perShift, rho);
    }

    private static int Count(Tensor logits, IReadOnlyList<int> labels, long offset)
    {
        var argmax = logits.argmax(1).data<long>().ToArray();
        int c = 0;
        for (int i = 0; i < argmax.Length; i++)
            if (labels[(int)offset + i] >= 0 && argmax[i] == labels[(int)offset + i]) c++;
        return c;
    }
}
