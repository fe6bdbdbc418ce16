using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for raining; recipe 0 is the world's original one.</summary>
internal static class RainSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("drops", Rain),
        new("on_water", OnWater),
        new("on_pavement", OnPavement),
        new("on_leaves", OnLeaves),
    ];

    /// <summary>Dense drop impulses ringing through a few high resonances, over a band-limited hiss.</summary>
    private static double[] Rain(WorldRandom rng, int n, double i)
    {
        var x = Bed(Dsp.White(rng, n), Biquad.Highpass(400, 0.7, Sr), 0.02 + 0.06 * i);
        var lp = Biquad.Lowpass(rng.Uniform(7000, 10000), 0.7, Sr);
        for (int k = 0; k < n; k++) x[k] = lp.Process(x[k]);
        const int bands = 4;
        var impulses = new double[bands][];
        for (int b = 0; b < bands; b++) impulses[b] = new double[n];
        double rate = 400 + 5000 * i, amp = 0.5 + 0.5 * i;
        for (double t = rng.Exponential(rate); t < (double)n / Sr; t += rng.Exponential(rate))
            impulses[rng.Next(bands)][(int)(t * Sr)] += amp * rng.Uniform(0.1, 1) * (rng.Chance(0.5) ? 1 : -1);
        for (int b = 0; b < bands; b++)
        {
            var res = Biquad.Bandpass(rng.Uniform(1800, 8000), rng.Uniform(3, 7), Sr);
            for (int k = 0; k < n; k++) x[k] += 0.9 * res.Process(impulses[b][k]);
        }
        double plinkRate = 2 + 15 * i;
        for (double t = rng.Exponential(plinkRate); t < (double)n / Sr; t += rng.Exponential(plinkRate))
        {
            double f0 = rng.Uniform(1000, 3000);
            Dsp.AddChirp(x, Sr, t, f0, f0 * 1.4, 0.02, amp * rng.Uniform(0.05, 0.15), 0.006);
        }
        return x;
    }

    /// <summary>Rain on a lake: each drop a faint impact tick and, often, an entrained bubble ringing at its Minnaert pitch.</summary>
    private static double[] OnWater(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr;
        var x = Bed(Dsp.White(rng, n), Biquad.Highpass(2000, 0.7, Sr), 0.004 + 0.006 * i);
        var ticks = new double[n];
        double rate = 150 + 2200 * i, bubbleShare = rng.Uniform(0.25, 0.45);
        for (double t = rng.Exponential(rate); t < sec; t += rng.Exponential(rate))
        {
            double a = Math.Min(3, 0.3 * rng.Pareto(2));
            AddImpulse(ticks, Sr, t, a * (rng.Chance(0.5) ? 1 : -1));
            if (rng.Chance(bubbleShare))
            {
                double r = Math.Min(3.0, 0.5 * rng.Pareto(2.5));
                Dsp.AddBubble(x, Sr, t + rng.Uniform(0, 0.004), r, 0.08 * r * rng.Uniform(0.5, 1), rng.Uniform(0.1, 0.3));
            }
        }
        var hp = Biquad.Highpass(rng.Uniform(3000, 5000), 0.7, Sr);
        for (int k = 0; k < n; k++) x[k] += 0.3 * hp.Process(ticks[k]);
        return x;
    }

    /// <summary>Rain on a hard surface: a dense spatter of very short clicks and splatters; on metal (some clips) they ring a few plate modes.</summary>
    private static double[] OnPavement(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr;
        var clicks = new double[n];
        double rate = 600 + 7000 * i;
        for (double t = rng.Exponential(rate); t < sec; t += rng.Exponential(rate))
            AddImpulse(clicks, Sr, t, Math.Min(4, 0.2 * rng.Pareto(1.8)) * (rng.Chance(0.5) ? 1 : -1));
        var x = new double[n];
        var hp = Biquad.Highpass(rng.Uniform(1500, 2500), 0.6, Sr);
        var lp = Biquad.Lowpass(rng.Uniform(9000, 14000), 0.7, Sr);
        for (int k = 0; k < n; k++) x[k] = lp.Process(hp.Process(clicks[k]));
        if (rng.Chance(0.4))
        {
            for (int m = 0; m < 3; m++)
            {
                var mode = Biquad.Bandpass(rng.Uniform(1800, 6500), rng.Uniform(20, 40), Sr);
                double g = rng.Uniform(1.5, 3);
                for (int k = 0; k < n; k++) x[k] += g * mode.Process(clicks[k]);
            }
        }
        var splat = Filtered(Dsp.White(rng, Sr / 10), Biquad.Highpass(1200, 0.7, Sr));
        double splatRate = 3 + 40 * i;
        for (double t = rng.Exponential(splatRate); t < sec; t += rng.Exponential(splatRate))
            Dsp.AddBurst(x, Sr, t, splat.AsSpan(rng.Next(Sr / 20)), rng.Uniform(0.05, 0.2), 0.0005, rng.Uniform(0.003, 0.01), 0.05);
        var wash = Bed(Dsp.Pink(rng, n), Biquad.Bandpass(rng.Uniform(1500, 3000), 0.5, Sr), 0.01 + 0.02 * i);
        for (int k = 0; k < n; k++) x[k] += wash[k];
        return x;
    }

    /// <summary>Rain on leaves or a roof: band-limited noise under a fast patter modulation, plus heavy drips falling from the foliage.</summary>
    private static double[] OnLeaves(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr;
        var hits = new double[n];
        double rate = 300 + 2500 * i;
        for (double t = rng.Exponential(rate); t < sec; t += rng.Exponential(rate))
            AddImpulse(hits, Sr, t, rng.Uniform(0.3, 1));
        var noise = Filtered(Dsp.White(rng, n), Biquad.Bandpass(rng.Uniform(800, 2000), rng.Uniform(0.6, 1.0), Sr));
        double decay = Math.Exp(-1 / (rng.Uniform(0.008, 0.02) * Sr)), env = 0;
        var x = new double[n];
        for (int k = 0; k < n; k++)
        {
            env = env * decay + hits[k];
            x[k] = env * noise[k];
        }
        Normalize(x, 0.1);
        var thud = Filtered(Dsp.White(rng, Sr / 10), Biquad.Bandpass(rng.Uniform(600, 1200), 1.2, Sr));
        double dripRate = 1 + 6 * i;
        for (double t = rng.Exponential(dripRate); t < sec; t += rng.Exponential(dripRate))
        {
            double a = rng.Uniform(0.2, 0.6);
            Dsp.AddBurst(x, Sr, t, thud, a, 0.001, rng.Uniform(0.01, 0.025), 0.1);
            Dsp.AddChirp(x, Sr, t, rng.Uniform(350, 700), rng.Uniform(250, 330), 0.05, a * 0.5, 0.015);
        }
        return x;
    }
}
