using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for thunder; recipe 0 is the world's original one.</summary>
internal static class ThunderSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("clap_roll", Thunder),
    ];

    /// <summary>One or more claps: a bright crack followed by a long, rolling low rumble.</summary>
    private static double[] Thunder(WorldRandom rng, int n, double i)
    {
        var x = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(80, 0.7, Sr), 0.008 + 0.01 * i);
        double seconds = (double)n / Sr;
        int claps = 1 + (int)Math.Round(2.5 * i * rng.Uniform(0.6, 1.0));
        var rumble = Filtered(Dsp.Brown(rng, n), Biquad.Lowpass(rng.Uniform(120, 250), 0.8, Sr));
        Normalize(rumble, 0.35);
        for (int c = 0; c < claps; c++)
        {
            double t0 = c == 0 ? rng.Uniform(0.1, Math.Min(1.0, seconds * 0.2)) : rng.Uniform(0, Math.Max(0.1, seconds - 1.5));
            double s = rng.Uniform(0.6, 1.0) * (0.35 + 0.65 * i);
            var crack = Filtered(Dsp.White(rng, (int)(0.4 * Sr)), Biquad.Lowpass(3000 + 3000 * i, 0.7, Sr));
            Dsp.AddBurst(x, Sr, t0, crack, 1.6 * s, 0.002, 0.06, 0.4);
            double tail = rng.Uniform(1.5, 3.0);
            int rolls = rng.Range(3, 7);
            var rollT = new double[rolls];
            var rollA = new double[rolls];
            for (int r = 0; r < rolls; r++) { rollT[r] = r == 0 ? 0.03 : rng.Uniform(0.05, 2.0); rollA[r] = rng.Uniform(0.4, 1.0); }
            int k0 = (int)(t0 * Sr);
            double env = 0, next = 0;
            for (int k = k0; k < n; k++)
            {
                if (((k - k0) & 31) == 0)
                {
                    env = next;
                    double t = (double)(k - k0 + 32) / Sr;
                    next = 0;
                    for (int r = 0; r < rolls; r++)
                    {
                        double u = t - rollT[r];
                        if (u > 0) next += rollA[r] * Math.Min(1.0, u / 0.1) * Math.Exp(-u / (0.5 + 0.4 * r));
                    }
                    next = Math.Min(next, 1.5) * Math.Exp(-t / tail);
                }
                double w = ((k - k0) & 31) / 32.0;
                x[k] += 1.4 * s * (env + (next - env) * w) * rumble[k];
            }
        }
        return x;
    }
}
