using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for splashing water; recipe 0 is the world's original one.</summary>
internal static class SplashSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("lapping", Splash),
        new("slosh", Slosh),
        new("paddling", Paddling),
        new("big_splash", BigSplash),
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

    /// <summary>Irregular sloshing: swelling band-passed noise bursts, each with a few large bubbles ringing inside.</summary>
    private static double[] Slosh(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr, rate = 0.6 + 2.8 * i;
        var x = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(400, 0.7, Sr), 0.01);
        for (double t = rng.Uniform(0.05, 0.5); t < sec - 0.1; t += rng.Exponential(rate))
        {
            double a = rng.Uniform(0.5, 1);
            double fc = rng.Uniform(200, 600);
            var body = Filtered(Filtered(Dsp.White(rng, Sr / 2), Biquad.Bandpass(fc, 1.2, Sr)), Biquad.Lowpass(fc * 1.5, 0.7, Sr));
            Dsp.AddBurst(x, Sr, t, body, 1.5 * a, rng.Uniform(0.04, 0.12), rng.Uniform(0.1, 0.25), 0.5);
            int bubbles = rng.Range(3, 8 + (int)(8 * i));
            for (int b = 0; b < bubbles; b++)
                Dsp.AddBubble(x, Sr, t + rng.Uniform(0, 0.3), rng.Uniform(3, 10), a * rng.Uniform(0.05, 0.15), rng.Uniform(0.1, 0.3));
        }
        return x;
    }

    /// <summary>Paddling or swimming strokes: a near-regular rhythm of a bright entry slap, a gurgling pull and dripping on the way out.</summary>
    private static double[] Paddling(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr, period = rng.Uniform(0.9, 1.5) - 0.4 * i;
        var x = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(500, 0.7, Sr), 0.008);
        var slap = Filtered(Dsp.White(rng, Sr / 4), Biquad.Bandpass(rng.Uniform(1000, 3000), 0.8, Sr));
        for (double t = rng.Uniform(0.05, period); t < sec - 0.1; t += period * rng.Uniform(0.88, 1.12))
        {
            double a = rng.Uniform(0.6, 1) * (0.7 + 0.3 * i);
            Dsp.AddBurst(x, Sr, t, slap, a, 0.001, rng.Uniform(0.012, 0.03), 0.2);
            var pull = Filtered(Dsp.White(rng, Sr / 2), Biquad.Bandpass(rng.Uniform(200, 600), 2, Sr));
            Dsp.AddBurst(x, Sr, t + 0.08, pull, 2.5 * a, 0.05, 0.15, 0.5);
            int bubbles = rng.Range(5, 10 + (int)(12 * i));
            for (int b = 0; b < bubbles; b++)
                Dsp.AddBubble(x, Sr, t + 0.05 + rng.Uniform(0, 0.3), rng.Uniform(1.5, 5), a * rng.Uniform(0.05, 0.15), 0.2);
            int drips = rng.Range(4, 12);
            double tOut = t + rng.Uniform(0.4, 0.6);
            for (int d = 0; d < drips; d++)
                Dsp.AddBubble(x, Sr, tOut + rng.Exponential(1 / 0.2), rng.Uniform(0.8, 2), a * rng.Uniform(0.03, 0.08), 0.3);
        }
        return x;
    }

    /// <summary>One big plunge (two when rough): a slap, a deep whomp, a roar of spray and cavity bubbles, then a dying patter of droplets.</summary>
    private static double[] BigSplash(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr;
        var lap = Filtered(Dsp.White(rng, n), Biquad.Lowpass(500, 0.7, Sr));
        var wave = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(0.3, 0.8), 0.2, 1);
        for (int k = 0; k < n; k++) lap[k] *= wave[k];
        Normalize(lap, 0.01);
        var x = lap;
        int splashes = i > 0.5 && rng.Chance(i) ? 2 : 1;
        for (int s = 0; s < splashes; s++)
        {
            double t0 = s == 0 ? rng.Uniform(0.1, Math.Max(0.15, sec * 0.3)) : rng.Uniform(sec * 0.4, Math.Max(sec * 0.4 + 0.01, sec - 1)), a = rng.Uniform(0.7, 1);
            var slap = Filtered(Dsp.White(rng, Sr / 5), Biquad.Bandpass(rng.Uniform(1500, 3000), 0.5, Sr));
            Dsp.AddBurst(x, Sr, t0, slap, 1.5 * a, 0.0005, 0.03, 0.2);
            Dsp.AddChirp(x, Sr, t0 + 0.01, rng.Uniform(120, 180), rng.Uniform(50, 70), 0.3, 0.8 * a, 0.12);
            var spray = Filtered(Dsp.White(rng, Sr), Biquad.Lowpass(rng.Uniform(5000, 9000), 0.7, Sr));
            Dsp.AddBurst(x, Sr, t0 + 0.02, spray, 0.8 * a, 0.02, rng.Uniform(0.25, 0.5) + 0.2 * i, 1);
            int cavity = rng.Range(20, 40 + (int)(40 * i));
            for (int b = 0; b < cavity; b++)
                Dsp.AddBubble(x, Sr, t0 + rng.Uniform(0.02, 0.5), rng.Uniform(2, 10), a * rng.Uniform(0.05, 0.15), 0.2);
            double lambda = 40 + 120 * i, fall = rng.Uniform(0.5, 1.2) + 0.6 * i;
            for (double t = t0 + 0.35; t < sec; t += rng.Exponential(lambda))
            {
                if (!rng.Chance(Math.Exp(-(t - t0 - 0.35) / fall))) continue;
                Dsp.AddBubble(x, Sr, t, Math.Min(2.5, 0.5 * rng.Pareto(2.5)), a * rng.Uniform(0.03, 0.1), 0.3);
            }
        }
        return x;
    }
}
