using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for squishing water; recipe 0 is the world's original one.</summary>
internal static class SquishSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("footsteps", Squelch),
        new("boots", Boots),
        new("sponge", Sponge),
        new("gloop", Gloop),
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

    /// <summary>Boots in deep mud: a heavy planted squish, then a slow low suck as the boot pulls free, ending in a pop.</summary>
    private static double[] Boots(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr, period = rng.Uniform(0.9, 1.5) - 0.3 * i;
        var x = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(300, 0.7, Sr), 0.006);
        var squish = Filtered(Dsp.White(rng, Sr / 2), Biquad.Lowpass(rng.Uniform(400, 800), 1.2, Sr));
        for (double t = rng.Uniform(0.05, 0.5); t < sec - 0.2; t += period * rng.Uniform(0.85, 1.15))
        {
            double a = rng.Uniform(0.6, 1) * (0.6 + 0.4 * i);
            Dsp.AddChirp(x, Sr, t, rng.Uniform(80, 110), 55, 0.15, 0.6 * a, 0.04);
            Dsp.AddBurst(x, Sr, t, squish, 1.2 * a, 0.005, rng.Uniform(0.05, 0.1), 0.4);
            double lift = t + rng.Uniform(0.3, 0.45), len = rng.Uniform(0.15, 0.3) + 0.15 * i;
            var bp = Biquad.Bandpass(150, 2.5, Sr);
            int i0 = (int)(lift * Sr), m = (int)(len * Sr);
            for (int k = 0; k < m && i0 + k < n; k++)
            {
                double u = (double)k / m;
                if ((k & 31) == 0) bp.SetBandpass(150 * Math.Pow(4, u), 2.5, Sr);
                x[i0 + k] += 4 * a * Math.Sin(Math.PI * u) * u * bp.Process(rng.Signed());
            }
            double fPop = rng.Uniform(250, 500);
            Dsp.AddChirp(x, Sr, lift + len, fPop, fPop * 1.6, 0.04, 0.5 * a, 0.01);
            int pops = rng.Range(1, 2 + (int)(4 * i));
            for (int p = 0; p < pops; p++)
                Dsp.AddBubble(x, Sr, lift + rng.Uniform(0, len), rng.Uniform(4, 12), 0.2 * a, 0.5);
        }
        return x;
    }

    /// <summary>A wet sponge or cloth wrung out: a swelling hiss thick with tiny bubbles crackling, then drips.</summary>
    private static double[] Sponge(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr, rate = 0.5 + 0.9 * i;
        var x = new double[n];
        var hiss = Filtered(Dsp.White(rng, n), Biquad.Bandpass(rng.Uniform(1000, 2500), 0.8, Sr));
        Normalize(hiss, 0.15);
        var env = new double[n];
        for (double t = rng.Uniform(0.05, 0.4); t < sec - 0.2; t += rng.Uniform(0.3, 0.6) + rng.Exponential(rate))
        {
            double len = rng.Uniform(0.4, 1.2), a = rng.Uniform(0.6, 1);
            int i0 = (int)(t * Sr), m = (int)(len * Sr);
            for (int k = 0; k < m && i0 + k < n; k++) env[i0 + k] += a * Math.Pow(Math.Sin(Math.PI * k / m), 1.5);
            double bubbleRate = 300 + 1200 * i;
            for (double u = rng.Exponential(bubbleRate); u < len; u += rng.Exponential(bubbleRate))
            {
                double w = Math.Sin(Math.PI * u / len);
                if (rng.Chance(w)) Dsp.AddBubble(x, Sr, t + u, rng.Uniform(0.3, 1.0), a * w * rng.Uniform(0.02, 0.06), 0.3);
            }
            int drips = rng.Range(2, 8);
            for (int d = 0; d < drips; d++)
                Dsp.AddBubble(x, Sr, t + len + rng.Uniform(0, 0.8), rng.Uniform(1.5, 3), rng.Uniform(0.05, 0.12), 0.2);
        }
        for (int k = 0; k < n; k++) x[k] += env[k] * hiss[k];
        return x;
    }

    /// <summary>Slow viscous gloops: big bubbles forcing through thick mud, stretching up in pitch and bursting with a small pop.</summary>
    private static double[] Gloop(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr, rate = 0.6 + 3 * i;
        var x = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(150, 0.7, Sr), 0.01);
        var suck = Filtered(Dsp.Brown(rng, Sr), Biquad.Lowpass(250, 0.8, Sr));
        Normalize(suck, 0.3);
        var pop = Filtered(Dsp.White(rng, Sr / 20), Biquad.Highpass(1500, 0.7, Sr));
        for (double t = rng.Uniform(0.05, 0.6); t < sec - 0.2; t += rng.Exponential(rate))
        {
            double f0 = rng.Uniform(120, 380), len = rng.Uniform(0.06, 0.16), a = rng.Uniform(0.5, 1);
            Dsp.AddBurst(x, Sr, t - 0.05, suck, 0.6 * a, 0.04, 0.12, 0.4);
            Dsp.AddChirp(x, Sr, t, f0, f0 * rng.Uniform(1.5, 2.5), len, 1.5 * a, len * 0.6);
            Dsp.AddBurst(x, Sr, t + len * 0.9, pop, 0.15 * a, 0.0003, 0.003, 0.03);
        }
        return x;
    }
}
