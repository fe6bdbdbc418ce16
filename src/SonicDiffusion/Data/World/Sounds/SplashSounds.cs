using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for splashing water; recipe 0 is the world's original one.</summary>
internal static class SplashSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("lapping", Splash),
    ];

    /// <summary>Lapping water plus splashes: a broadband body, a low plunge and a spray of droplet chirps.</summary>
    private static double[] Splash(WorldRandom rng, int n, double i)
    {
        var lap = Filtered(Dsp.White(rng, n), Biquad.Lowpass(600, 0.7, Sr));
        var wave = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(0.5, 1.2), 0.2, 1);
        for (int k = 0; k < n; k++) lap[k] *= wave[k];
        Normalize(lap, 0.015 + 0.03 * i);
        var x = lap;
        double rate = 0.4 + 2.2 * i, t = rng.Uniform(0.05, 0.5), end = (double)n / Sr - 0.15;
        while (t < end)
        {
            double s = rng.Uniform(0.5, 1.0) * (0.4 + 0.6 * i);
            var body = Filtered(Dsp.White(rng, (int)(0.6 * Sr)), Biquad.Bandpass(rng.Uniform(1000, 2500), 0.7, Sr));
            Dsp.AddBurst(x, Sr, t, body, 1.2 * s, 0.003, rng.Uniform(0.08, 0.1 + 0.25 * s), 0.6);
            Dsp.AddChirp(x, Sr, t, rng.Uniform(120, 250), 60, 0.25, 0.4 * s, 0.06);
            int drops = 5 + (int)(30 * s);
            for (int d = 0; d < drops; d++)
            {
                double f0 = rng.Uniform(1200, 4000);
                Dsp.AddChirp(x, Sr, t + rng.Exponential(1 / 0.15), f0, f0 * rng.Uniform(1.3, 1.8), rng.Uniform(0.008, 0.025), s * rng.Uniform(0.08, 0.2), rng.Uniform(0.004, 0.01));
            }
            t += rng.Exponential(rate);
        }
        return x;
    }
}
