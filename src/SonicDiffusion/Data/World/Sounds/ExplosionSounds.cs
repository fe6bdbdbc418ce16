using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for explosion; recipe 0 is the world's original one.</summary>
internal static class ExplosionSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("blast", Explosion),
    ];

    /// <summary>A blast transient, a falling low boom and sub thump, then debris crackle and a fading rumble.</summary>
    private static double[] Explosion(WorldRandom rng, int n, double i)
    {
        var x = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(100, 0.7, Sr), 0.004);
        double t0 = rng.Uniform(0.1, 0.6), s = 0.3 + 0.7 * i, seconds = (double)n / Sr;
        var blast = Dsp.White(rng, (int)(0.3 * Sr));
        Dsp.AddBurst(x, Sr, t0, blast, 1.0 * s, 0.001, 0.04, 0.3);
        var brown = Dsp.Brown(rng, n);
        Normalize(brown, 0.4);
        var lp = Biquad.Lowpass(1500, 0.8, Sr);
        double tau = 0.4 + 1.6 * i, decay = Math.Exp(-1.0 / (tau * Sr)), env = 2.2 * s;
        int k0 = (int)(t0 * Sr);
        for (int k = k0; k < n; k++)
        {
            double t = (double)(k - k0) / Sr;
            if (((k - k0) & 31) == 0) lp.SetLowpass(90 + 1400 * Math.Exp(-t / 0.35), 0.8, Sr);
            x[k] += env * Math.Min(1.0, t / 0.01) * lp.Process(brown[k]);
            env *= decay;
        }
        Dsp.AddChirp(x, Sr, t0, rng.Uniform(55, 75), 30, 1.2, 0.8 * s, 0.35);
        var debris = new double[n];
        double rate0 = 40 + 200 * s;
        for (double t = t0 + 0.05; t < Math.Min(seconds, t0 + 3.5); t += rng.Exponential(rate0))
        {
            if (rng.Chance(Math.Exp(-(t - t0) / (0.4 + 0.8 * i))))
                debris[(int)(t * Sr)] += s * rng.Uniform(0.1, 1) * (rng.Chance(0.5) ? 1 : -1);
        }
        var hp = Biquad.Highpass(1500, 0.8, Sr);
        for (int k = 0; k < n; k++) x[k] += 1.5 * hp.Process(debris[k]);
        return x;
    }
}
