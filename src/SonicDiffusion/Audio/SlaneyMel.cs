using static TorchSharp.torch;

namespace SonicDiffusion.Audio;

/// <summary>
/// librosa 0.10's Slaney mel scale (htk=False: linear below 1 kHz, logarithmic above) and <c>filters.mel</c> with
/// Slaney area normalisation, reproduced operation by operation in float64 with librosa's float32 rounding points.
/// </summary>
public static class SlaneyMel
{
    private const double FSp = 200.0 / 3, MinLogHz = 1000.0, MinLogMel = MinLogHz / FSp;
    private static readonly double LogStep = Math.Log(6.4) / 27.0;

    public static double HzToMel(double hz) => hz >= MinLogHz ? MinLogMel + Math.Log(hz / MinLogHz) / LogStep : hz / FSp;

    public static double MelToHz(double mel) => mel >= MinLogMel ? MinLogHz * Math.Exp(LogStep * (mel - MinLogMel)) : FSp * mel;

    /// <summary>The n_mels + 2 band edges in Hz (librosa <c>mel_frequencies</c>).</summary>
    public static double[] BandEdgesHz(int nMels, double fmin, double fmax)
    {
        int count = nMels + 2;
        double lo = HzToMel(fmin), hi = HzToMel(fmax), step = (hi - lo) / (count - 1);
        var edges = new double[count];
        for (int i = 0; i < count; i++) edges[i] = MelToHz(i == count - 1 ? hi : i * step + lo);
        return edges;
    }

    /// <summary>librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax) as float32 weights [n_mels, 1 + n_fft/2].</summary>
    public static float[,] Weights(int sampleRate, int nFft, int nMels, double fmin, double fmax)
    {
        int bins = nFft / 2 + 1;
        double val = 1.0 / (nFft * (1.0 / sampleRate));
        var fft = new double[bins];
        for (int k = 0; k < bins; k++) fft[k] = k * val;
        var melF = BandEdgesHz(nMels, fmin, fmax);
        var w = new float[nMels, bins];
        for (int i = 0; i < nMels; i++)
        {
            double fdiffLo = melF[i + 1] - melF[i], fdiffHi = melF[i + 2] - melF[i + 1];
            double enorm = 2.0 / (melF[i + 2] - melF[i]);
            for (int k = 0; k < bins; k++)
            {
                double lower = -(melF[i] - fft[k]) / fdiffLo;
                double upper = (melF[i + 2] - fft[k]) / fdiffHi;
                float tri = (float)Math.Max(0.0, Math.Min(lower, upper));
                w[i, k] = (float)(tri * enorm);
            }
        }
        return w;
    }

    /// <summary>torchlibrosa's <c>melW</c>: the filterbank transposed, float32 [1 + n_fft/2, n_mels].</summary>
    public static Tensor MelW(int sampleRate, int nFft, int nMels, double fmin, double fmax)
    {
        var w = Weights(sampleRate, nFft, nMels, fmin, fmax);
        int bins = w.GetLength(1);
        var flat = new float[bins * nMels];
        for (int k = 0; k < bins; k++)
            for (int m = 0; m < nMels; m++) flat[k * nMels + m] = w[m, k];
        return tensor(flat, new long[] { bins, nMels }, ScalarType.Float32);
    }
}
