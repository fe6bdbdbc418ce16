using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for squishing water; recipe 0 is the world's original one.</summary>
internal static class SquishSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("footsteps", Squelch),
    ];

    /// <summary>Footsteps in mud: downward-sweeping wet resonances with little bubble pops and a suck-back.</summary>
    private static double[] Squelch(WorldRandom rng, int n, double i)
    {
        var x = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(400, 0.7, Sr), 0.008 + 0.012 * i);
        double rate = 0.8 + 1.6 * i, t = rng.Uniform(0.05, 0.4), end = (double)n / Sr - 0.2;
        while (t < end)
        {
            double dur = rng.Uniform(0.18, 0.42), amp = (0.25 + 0.45 * i) * rng.Uniform(0.7, 1.2);
            double fHi = rng.Uniform(1300, 2300), fLo = rng.Uniform(200, 350);
            int len = (int)(dur * Sr), i0 = (int)(t * Sr);
            var bp = Biquad.Bandpass(fHi, 3, Sr);
            int att = (int)(0.015 * Sr);
            for (int k = 0; k < len && i0 + k < n; k++)
            {
                if ((k & 31) == 0) bp.SetBandpass(fHi * Math.Pow(fLo / fHi, (double)k / len), 3, Sr);
                double env = Math.Min(1.0, (double)k / att) * Math.Exp(-3.0 * k / len);
                x[i0 + k] += amp * 3 * env * bp.Process(rng.Signed());
            }
            var suck = Filtered(Dsp.White(rng, (int)(0.25 * Sr)), Biquad.Lowpass(rng.Uniform(500, 900), 1.5, Sr));
            Dsp.AddBurst(x, Sr, t + dur * rng.Uniform(0.45, 0.7), suck, amp * 1.5, 0.01, 0.05, 0.25);
            int pops = 2 + (int)Math.Round(6 * i * rng.NextDouble());
            for (int p = 0; p < pops; p++)
            {
                double f0 = rng.Uniform(300, 900);
                Dsp.AddChirp(x, Sr, t + rng.Uniform(0, dur), f0, f0 * rng.Uniform(1.3, 1.8), rng.Uniform(0.02, 0.04), amp * rng.Uniform(0.15, 0.35), 0.01);
            }
            t += Math.Max(0.3, rng.Exponential(rate));
        }
        return x;
    }
}
