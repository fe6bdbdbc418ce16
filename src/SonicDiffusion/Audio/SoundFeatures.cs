using System.Numerics;

namespace SonicDiffusion.Audio;

/// <summary>
/// Coarse descriptors of a mono clip, from 2048-sample Hann frames with a 512-sample hop: spectral centroid (Hz, over
/// the whole clip's power), spectral flatness (mean over audible frames of geometric / arithmetic mean power between 100 Hz and
/// 10 kHz: near 0 for tones, about 0.56 for white noise), spectral crest (mean over audible frames of the peak
/// over the mean power in that band, dB: about 9 for white noise, high for whistles and ringing), onsets per second (frame-energy rises of at least 6 dB over the previous 30 ms that peak above the clip's
/// floor, at least 30 ms apart), RMS level (dBFS) and the spread (standard deviation, dB) of the audible frames' levels:
/// near 0 for a steady sound, large for bursts.
/// </summary>
public sealed record SoundFeatures(double CentroidHz, double Flatness, double CrestDb, double OnsetsPerSecond, double RmsDb, double LevelSpreadDb)
{
    private const int Frame = 2048, Hop = 512;

    public static SoundFeatures Measure(ReadOnlySpan<float> x, int sampleRate)
    {
        double sumSq = 0;
        foreach (var v in x) sumSq += (double)v * v;
        double rmsDb = 10 * Math.Log10(Math.Max(sumSq / Math.Max(1, x.Length), 1e-20));
        int frames = x.Length < Frame ? 1 : 1 + (x.Length - Frame) / Hop;
        var window = new double[Frame];
        for (int k = 0; k < Frame; k++) window[k] = 0.5 - 0.5 * Math.Cos(2 * Math.PI * k / Frame);
        var buf = new Complex[Frame];
        var power = new double[Frame / 2 + 1];
        var frameDb = new double[frames];
        var frameFlatness = new double[frames];
        var frameCrest = new double[frames];
        double weighted = 0, total = 0;
        int lo = (int)Math.Ceiling(100.0 * Frame / sampleRate), hi = Math.Min(Frame / 2, (int)(10000.0 * Frame / sampleRate));
        for (int f = 0; f < frames; f++)
        {
            int start = f * Hop;
            for (int k = 0; k < Frame; k++) buf[k] = start + k < x.Length ? x[start + k] * window[k] : 0;
            Fft(buf);
            double sum = 0, bandSum = 0, logSum = 0, bandPeak = 0;
            for (int b = 0; b < power.Length; b++)
            {
                double p = buf[b].Real * buf[b].Real + buf[b].Imaginary * buf[b].Imaginary;
                power[b] = p;
                sum += p;
                weighted += p * b * (double)sampleRate / Frame;
                if (b >= lo && b <= hi) { bandSum += p; logSum += Math.Log(p + 1e-20); bandPeak = Math.Max(bandPeak, p); }
            }
            total += sum;
            double mean = bandSum / (hi - lo + 1);
            frameFlatness[f] = mean > 0 ? Math.Exp(logSum / (hi - lo + 1)) / mean : 0;
            frameCrest[f] = mean > 0 ? 10 * Math.Log10(bandPeak / mean) : 0;
            frameDb[f] = 10 * Math.Log10(sum / (Frame * 0.375 * Frame / 2) + 1e-20);
        }
        double loudest = frameDb.Max(), floor = loudest - 50;
        var audible = Enumerable.Range(0, frames).Where(f => frameDb[f] > floor).ToList();
        double flatness = audible.Average(f => frameFlatness[f]), crest = audible.Average(f => frameCrest[f]);
        double meanDb = audible.Average(f => frameDb[f]);
        double spread = Math.Sqrt(audible.Average(f => (frameDb[f] - meanDb) * (frameDb[f] - meanDb)));
        int look = Math.Max(1, (int)Math.Round(0.03 * sampleRate / Hop)), onsets = 0, last = -look;
        for (int f = 1; f < frames - 1; f++)
        {
            double before = double.MaxValue;
            for (int g = Math.Max(0, f - look); g < f; g++) before = Math.Min(before, frameDb[g]);
            bool peak = frameDb[f] >= frameDb[f + 1] && frameDb[f] > loudest - 30;
            if (peak && frameDb[f] - before >= 6 && f - last >= look) { onsets++; last = f; }
        }
        double seconds = (double)x.Length / sampleRate;
        return new SoundFeatures(total > 0 ? weighted / total : 0, flatness, crest, onsets / Math.Max(seconds, 1e-9), rmsDb, spread);
    }

    /// <summary>In-place radix-2 FFT (length a power of two).</summary>
    private static void Fft(Complex[] a)
    {
        int n = a.Length;
        for (int i = 1, j = 0; i < n; i++)
        {
            int bit = n >> 1;
            for (; (j & bit) != 0; bit >>= 1) j ^= bit;
            j ^= bit;
            if (i < j) (a[i], a[j]) = (a[j], a[i]);
        }
        for (int len = 2; len <= n; len <<= 1)
        {
            var step = Complex.FromPolarCoordinates(1, -2 * Math.PI / len);
            for (int i = 0; i < n; i += len)
            {
                var w = Complex.One;
                for (int k = 0; k < len / 2; k++)
                {
                    var u = a[i + k];
                    var v = a[i + k + len / 2] * w;
                    a[i + k] = u + v;
                    a[i + k + len / 2] = u - v;
                    w *= step;
                }
            }
        }
    }
}
