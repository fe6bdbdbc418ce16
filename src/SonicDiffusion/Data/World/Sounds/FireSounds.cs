using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for fire crackling; recipe 0 is the world's original one.</summary>
internal static class FireSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("crackle", Fire),
    ];

    /// <summary>A low flickering roar, faint hiss, sharp crackles (clustered impulses through a high-pass) and resonant pops.</summary>
    private static double[] Fire(WorldRandom rng, int n, double i)
    {
        var roar = Filtered(Dsp.Brown(rng, n), Biquad.Lowpass(300, 0.7, Sr));
        var flicker = Dsp.SmoothRandom(rng, n, Sr, 3, 0.5, 1);
        for (int k = 0; k < n; k++) roar[k] *= flicker[k];
        Normalize(roar, 0.02 + 0.05 * i);
        var hiss = Bed(Dsp.White(rng, n), Biquad.Highpass(3000, 0.7, Sr), 0.004 + 0.012 * i);
        var clicks = new double[n];
        double rate = 6 + 70 * i, amp = 0.35 + 0.45 * i;
        for (double t = rng.Exponential(rate); t < (double)n / Sr; t += rng.Exponential(rate))
        {
            int k0 = (int)(t * Sr), burst = rng.Range(1, 5);
            double a = amp * Math.Pow(rng.Uniform(0.05, 1), 1.5);
            for (int b = 0; b < burst && k0 + b * 7 < n; b++) clicks[k0 + b * 7] += a * rng.Signed() * 3;
        }
        var hp = Biquad.Highpass(1800, 0.8, Sr);
        var x = new double[n];
        for (int k = 0; k < n; k++) x[k] = roar[k] + hiss[k] + hp.Process(clicks[k]);
        double popRate = 0.5 + 3 * i;
        for (double t = rng.Exponential(popRate); t < (double)n / Sr; t += rng.Exponential(popRate))
        {
            double f = rng.Uniform(150, 500);
            Dsp.AddChirp(x, Sr, t, f, f * 0.8, 0.04, amp * rng.Uniform(0.2, 0.5), 0.008);
        }
        return x;
    }
}
