using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for waterfall burbling; recipe 0 is the world's original one.</summary>
internal static class WaterfallSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("roar", Waterfall),
    ];

    /// <summary>A steady broadband roar (brighter when stronger), a fast-modulated low burble and small bubbles.</summary>
    private static double[] Waterfall(WorldRandom rng, int n, double i)
    {
        var roar = Filtered(Dsp.Pink(rng, n), Biquad.Lowpass(2500 + 5000 * i, 0.7, Sr));
        roar = Filtered(roar, Biquad.Highpass(60, 0.7, Sr));
        Normalize(roar, 0.05 + 0.12 * i);
        var spray = Bed(Dsp.White(rng, n), Biquad.Bandpass(1500, 0.5, Sr), 0.015 + 0.04 * i);
        var burble = Filtered(Dsp.Brown(rng, n), Biquad.Bandpass(rng.Uniform(180, 320), 1.5, Sr));
        var am = Dsp.SmoothRandom(rng, n, Sr, 8);
        for (int k = 0; k < n; k++) burble[k] *= am[k] * am[k];
        Normalize(burble, 0.02 + 0.04 * i);
        var x = new double[n];
        for (int k = 0; k < n; k++) x[k] = roar[k] + spray[k] + burble[k];
        double rate = 10 + 20 * i;
        for (double t = rng.Exponential(rate); t < (double)n / Sr; t += rng.Exponential(rate))
        {
            double f0 = rng.Uniform(300, 900);
            Dsp.AddChirp(x, Sr, t, f0, f0 * 1.5, 0.05, 0.03 + 0.03 * i, 0.02);
        }
        return x;
    }
}
