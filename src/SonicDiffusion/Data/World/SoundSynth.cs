namespace SonicDiffusion.Data.World;

/// <summary>
/// Physically motivated sound recipes, one per class. Intensity in [0,1] raises both the density of events and the
/// loudness. Output: mono float samples in [-1, 1] at <see cref="SampleRate"/>.
/// </summary>
public static class SoundSynth
{
    public const int SampleRate = 44100;
    private const int Sr = SampleRate;

    public static int RecipeCount(WorldClass cls) => 1;

    public static string RecipeName(WorldClass cls, int recipe) => $"{WorldClasses.Info(cls).Label}/original";

    public static float[] Synthesize(WorldClass cls, int recipe, double intensity, double seconds, WorldRandom rng) =>
        Synthesize(cls, intensity, seconds, rng);

    public static float[] Synthesize(WorldClass cls, double intensity, double seconds, WorldRandom rng)
    {
        int n = Math.Max(1, (int)Math.Round(seconds * Sr));
        double i = Math.Clamp(intensity, 0, 1);
        double[] x = cls switch
        {
            WorldClass.WindNoise => Wind(rng, n, i),
            WorldClass.SquishingWater => Squelch(rng, n, i),
            WorldClass.SplashingWater => Splash(rng, n, i),
            WorldClass.FireCrackling => Fire(rng, n, i),
            WorldClass.Raining => Rain(rng, n, i),
            WorldClass.UnderwaterBubbling => Bubbles(rng, n, i),
            WorldClass.Thunder => Thunder(rng, n, i),
            WorldClass.WaterfallBurbling => Waterfall(rng, n, i),
            WorldClass.Explosion => Explosion(rng, n, i),
            _ => throw new ArgumentOutOfRangeException(nameof(cls)),
        };
        double trimDb = cls switch
        {
            WorldClass.Raining => 5,
            WorldClass.FireCrackling or WorldClass.SquishingWater => 4,
            _ => 0,
        };
        return Finish(x, Dsp.Db(trimDb - 10 * (1 - i)));
    }

    /// <summary>Band-passed pink noise whose centre and level follow slow gusts, plus a whistle at high intensity.</summary>
    private static double[] Wind(WorldRandom rng, int n, double i)
    {
        var pink = Dsp.Pink(rng, n);
        var white = Dsp.White(rng, n);
        var gust = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(0.3, 0.8));
        double depth = 0.3 + 0.6 * i;
        var body = Biquad.Bandpass(400, 0.9, Sr);
        var whistle = Biquad.Bandpass(800, 14, Sr);
        var rumble = Biquad.Lowpass(120, 0.7, Sr);
        double baseF = rng.Uniform(250, 400), whistleF = rng.Uniform(500, 900);
        var x = new double[n];
        for (int k = 0; k < n; k++)
        {
            double g = gust[k];
            if ((k & 31) == 0)
            {
                body.SetBandpass(baseF + (400 + 1400 * i) * g, 0.9, Sr);
                whistle.SetBandpass(whistleF + 900 * i * g, 14, Sr);
            }
            double env = (1 - depth) + depth * g * g;
            x[k] = env * (2.2 * body.Process(pink[k]) + (0.05 + 0.6 * i) * g * whistle.Process(white[k]) + 0.6 * rumble.Process(pink[k]));
        }
        Normalize(x, 0.06 + 0.12 * i);
        return x;
    }

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

    /// <summary>Muffled low ambience and clusters of rising bubble chirps (Minnaert resonances).</summary>
    private static double[] Bubbles(WorldRandom rng, int n, double i)
    {
        var x = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(200, 0.7, Sr), 0.02 + 0.03 * i);
        var hiss = Bed(Dsp.White(rng, n), Biquad.Lowpass(800, 0.7, Sr), 0.004);
        for (int k = 0; k < n; k++) x[k] += hiss[k];
        double clusterRate = 0.8 + 10 * i, seconds = (double)n / Sr;
        for (double t = rng.Exponential(clusterRate); t < seconds; t += rng.Exponential(clusterRate))
        {
            int count = rng.Range(1, 3 + (int)(5 * i));
            for (int b = 0; b < count; b++)
            {
                double f0 = 250 * Math.Pow(1400.0 / 250, rng.NextDouble());
                Dsp.AddChirp(x, Sr, t + rng.Uniform(0, 0.3), f0, f0 * rng.Uniform(1.3, 1.8), rng.Uniform(0.04, 0.1), (0.15 + 0.2 * i) * rng.Uniform(0.6, 1.2), rng.Uniform(0.015, 0.04));
            }
        }
        return x;
    }

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

    private static double[] Bed(double[] noise, Biquad filter, double rms)
    {
        var x = Filtered(noise, filter);
        Normalize(x, rms);
        return x;
    }

    private static double[] Filtered(double[] x, Biquad filter)
    {
        filter.ProcessInPlace(x);
        return x;
    }

    private static void Normalize(double[] x, double targetRms)
    {
        double s = 0;
        foreach (var v in x) s += v * v;
        double rms = Math.Sqrt(s / Math.Max(1, x.Length));
        if (rms < 1e-12) return;
        double g = targetRms / rms;
        for (int k = 0; k < x.Length; k++) x[k] *= g;
    }

    /// <summary>Applies the gain, removes DC drift and soft-limits above 0.7 so peaks stay inside [-1, 1] (monotonic).</summary>
    private static float[] Finish(double[] x, double gain)
    {
        var hp = Biquad.Highpass(20, 0.7, Sr);
        var y = new float[x.Length];
        for (int k = 0; k < x.Length; k++)
        {
            double v = hp.Process(x[k]) * gain, a = Math.Abs(v);
            if (a > 0.7) v = Math.Sign(v) * (0.7 + 0.3 * Math.Tanh((a - 0.7) / 0.3));
            y[k] = (float)v;
        }
        int fade = Math.Min(y.Length / 2, Sr / 100);
        for (int k = 0; k < fade; k++)
        {
            float w = (float)k / fade;
            y[k] *= w;
            y[^(k + 1)] *= w;
        }
        return y;
    }
}
