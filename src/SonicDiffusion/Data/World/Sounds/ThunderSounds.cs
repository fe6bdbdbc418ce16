using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for thunder; recipe 0 is the world's original one.</summary>
internal static class ThunderSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("clap_roll", Thunder),
        new("distant_roll", DistantRoll),
        new("close_crack", CloseCrack),
        new("long_rumble", LongRumble),
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

    /// <summary>Far thunder: no crack, only slow rolls of low-passed brown noise and their echoes off the land.</summary>
    private static double[] DistantRoll(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr;
        var core = Filtered(Dsp.Brown(rng, n), Biquad.Lowpass(90 + 100 * i + rng.Uniform(0, 40), 0.8, Sr));
        Normalize(core, 1);
        int rolls = 1 + (int)Math.Round(3 * i * rng.Uniform(0.5, 1));
        var start = new double[rolls];
        var rise = new double[rolls];
        var fall = new double[rolls];
        var size = new double[rolls];
        for (int r = 0; r < rolls; r++)
        {
            start[r] = r == 0 ? rng.Uniform(0.05, Math.Max(0.1, sec * 0.3)) : rng.Uniform(0, Math.Max(0.1, sec - 1));
            rise[r] = rng.Uniform(0.3, 0.9);
            fall[r] = rng.Uniform(1.0, 3.0);
            size[r] = rng.Uniform(0.5, 1);
        }
        var x = new double[n];
        var wobble = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(2, 5), 0.4, 1);
        for (int k = 0; k < n; k++)
        {
            double t = (double)k / Sr, e = 0;
            for (int r = 0; r < rolls; r++)
            {
                double u = t - start[r];
                if (u > 0) e += size[r] * (1 - Math.Exp(-u / rise[r] * 3)) * Math.Exp(-u / fall[r]);
            }
            x[k] = e * wobble[k] * core[k];
        }
        int echoes = rng.Range(2, 4);
        var delays = new double[echoes];
        var gains = new double[echoes];
        for (int e = 0; e < echoes; e++) { delays[e] = rng.Uniform(0.4, 2.5); gains[e] = rng.Uniform(0.3, 0.6); }
        Dsp.AddEchoes(x, Sr, delays, gains, 250);
        x = Filtered(x, Biquad.Highpass(25, 0.7, Sr));
        var bed = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(60, 0.7, Sr), 0.005);
        for (int k = 0; k < n; k++) x[k] = 0.3 * x[k] + bed[k];
        return x;
    }

    /// <summary>A near strike: an N-wave shock, a tearing burst of crackle, then a heavy roll that rumbles away.</summary>
    private static double[] CloseCrack(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr;
        var x = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(80, 0.7, Sr), 0.004);
        var tear = new double[n];
        var roll = Filtered(Dsp.Brown(rng, n), Biquad.Lowpass(rng.Uniform(150, 300), 0.8, Sr));
        Normalize(roll, 0.4);
        var wobble = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(3, 6), 0.3, 1);
        int strikes = i > 0.6 && rng.Chance(i) ? 2 : 1;
        for (int s = 0; s < strikes; s++)
        {
            double t0 = s == 0 ? rng.Uniform(0.05, Math.Min(0.8, sec * 0.2)) : rng.Uniform(sec * 0.3, Math.Max(sec * 0.3 + 0.01, sec - 1)), a = rng.Uniform(0.7, 1) * (0.5 + 0.5 * i);
            int k0 = (int)(t0 * Sr), len = (int)(rng.Uniform(0.004, 0.012) * Sr);
            for (int k = 0; k < len && k0 + k < n; k++) x[k0 + k] += 2.5 * a * (1 - 2.0 * k / len);
            double tearLen = rng.Uniform(0.3, 0.9), rate = 1500 + 2000 * i;
            for (double t = t0; t < Math.Min(sec, t0 + tearLen); t += rng.Exponential(rate))
                AddImpulse(tear, Sr, t, a * Math.Exp(-(t - t0) / (tearLen * 0.4)) * rng.Signed() * 3);
            double tail = rng.Uniform(1.5, 3.5);
            for (int k = k0; k < n; k++)
            {
                double u = (double)(k - k0) / Sr;
                x[k] += 1.6 * a * Math.Min(1, u / 0.08) * Math.Exp(-u / tail) * wobble[k] * roll[k];
            }
        }
        var hp = Biquad.Highpass(500, 0.7, Sr);
        for (int k = 0; k < n; k++) x[k] += hp.Process(tear[k]);
        return x;
    }

    /// <summary>A long low rumble that swells and ebbs slowly over the whole clip, with no distinct onset.</summary>
    private static double[] LongRumble(WorldRandom rng, int n, double i)
    {
        var low = Filtered(Dsp.Brown(rng, n), Biquad.Lowpass(rng.Uniform(120, 250), 0.8, Sr));
        Normalize(low, 1);
        var growl = Filtered(Dsp.Brown(rng, n), Biquad.Bandpass(rng.Uniform(200, 450), 1.2, Sr));
        Normalize(growl, 0.3 + 0.6 * i);
        var swell = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(0.3, 0.8));
        var arch = Dsp.SmoothRandom(rng, n, Sr, 0.12, 0.3, 1);
        double depth = 0.4 + 0.5 * i;
        var x = new double[n];
        for (int k = 0; k < n; k++)
        {
            double s = swell[k];
            x[k] = arch[k] * ((1 - depth) + depth * s * s * s) * (low[k] + s * growl[k]);
        }
        return x;
    }
}
