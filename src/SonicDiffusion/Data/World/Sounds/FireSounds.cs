using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for fire crackling; recipe 0 is the world's original one.</summary>
internal static class FireSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("crackle", Fire),
        new("roar", Roar),
        new("embers", Embers),
        new("log_fire", LogFire),
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

    /// <summary>A gas-like flame roar (low-passed turbulence with slow flicker) with sparse log pops ringing as wooden bars.</summary>
    private static double[] Roar(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr;
        var roar = Filtered(Dsp.White(rng, n), Biquad.Lowpass(rng.Uniform(250, 450) + 300 * i, 0.9, Sr));
        roar = Filtered(roar, Biquad.Highpass(rng.Uniform(50, 90), 0.7, Sr));
        var slow = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(0.8, 2.5), 0.3, 1);
        var fast = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(10, 20), 0.6, 1);
        for (int k = 0; k < n; k++) roar[k] *= slow[k] * fast[k];
        Normalize(roar, 0.12 + 0.05 * i);
        var x = roar;
        double popRate = 0.3 + 2.5 * i;
        var clicks = new double[n];
        for (double t = rng.Exponential(popRate); t < sec; t += rng.Exponential(popRate))
        {
            double a = Math.Min(4, 0.4 * rng.Pareto(1.8));
            AddImpulse(clicks, Sr, t, a * 1.5);
            double f0 = rng.Uniform(140, 480), tau = rng.Uniform(0.012, 0.035);
            ReadOnlySpan<double> ratios = [1, 2.76, 5.40];
            for (int m = 0; m < ratios.Length; m++)
                Dsp.AddChirp(x, Sr, t, f0 * ratios[m], f0 * ratios[m], 8 * tau, a * 0.25 / (1 + m), tau / (1 + 0.6 * m));
        }
        var hp = Biquad.Highpass(1200, 0.7, Sr);
        for (int k = 0; k < n; k++) x[k] += hp.Process(clicks[k]);
        return x;
    }

    /// <summary>A hiss of glowing embers with granular crackle: Poisson clusters of very short broadband clicks with heavy-tailed sizes.</summary>
    private static double[] Embers(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr;
        var x = Filtered(Dsp.White(rng, n), Biquad.Highpass(rng.Uniform(3000, 5000), 0.7, Sr));
        var swell = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(0.2, 0.5), 0.4, 1);
        for (int k = 0; k < n; k++) x[k] *= swell[k];
        Normalize(x, 0.004 + 0.004 * i);
        var glow = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(150, 0.7, Sr), 0.01);
        var clicks = new double[n];
        double clusterRate = 1.5 + 18 * i;
        for (double t = rng.Exponential(clusterRate); t < sec; t += rng.Exponential(clusterRate))
        {
            int count = Math.Min(40, (int)rng.Pareto(1.2));
            double span = rng.Uniform(0.005, 0.08), size = Math.Min(6, 0.5 * rng.Pareto(1.5));
            for (int c = 0; c < count; c++)
                AddImpulse(clicks, Sr, t + span * rng.NextDouble(), size * Math.Min(3, rng.Pareto(2.5)) * (rng.Chance(0.5) ? 1 : -1));
        }
        var hp = Biquad.Highpass(rng.Uniform(1500, 2500), 0.6, Sr);
        var lp = Biquad.Lowpass(12000, 0.7, Sr);
        for (int k = 0; k < n; k++) x[k] += glow[k] + lp.Process(hp.Process(clicks[k]));
        return x;
    }

    /// <summary>
    /// Burning logs as modal resonators: each log rings its own few wooden modes (1-7 kHz, millisecond decays) when the
    /// wood splits; how busy each log is drifts over time; rarer low cracks ring the larger pieces.
    /// </summary>
    private static double[] LogFire(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr;
        var x = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(rng.Uniform(150, 250), 0.7, Sr), 0.008 + 0.008 * i);
        const int logs = 3, modes = 4;
        var freq = new double[logs, modes];
        var tau = new double[logs, modes];
        var activity = new double[logs][];
        for (int l = 0; l < logs; l++)
        {
            activity[l] = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(0.3, 1));
            for (int m = 0; m < modes; m++) { freq[l, m] = 1000 * Math.Pow(7, rng.NextDouble()); tau[l, m] = rng.Uniform(0.0015, 0.005); }
        }
        var clicks = new double[n];
        double rate = 10 + 120 * i;
        for (double t = rng.Exponential(rate); t < sec; t += rng.Exponential(rate))
        {
            int l = rng.Next(logs);
            if (!rng.Chance(activity[l][Math.Min(n - 1, (int)(t * Sr))])) continue;
            double a = Math.Min(2.5, 0.1 * rng.Pareto(1.6));
            AddImpulse(clicks, Sr, t, a * (rng.Chance(0.5) ? 1 : -1));
            for (int m = 0; m < modes; m++)
            {
                double f = freq[l, m] * rng.Uniform(0.9, 1.1);
                Dsp.AddChirp(x, Sr, t, f, f, 8 * tau[l, m], a * rng.Uniform(0.1, 0.5), tau[l, m]);
            }
        }
        var hp = Biquad.Highpass(2000, 0.7, Sr);
        for (int k = 0; k < n; k++) x[k] += 0.5 * hp.Process(clicks[k]);
        double crackRate = 0.3 + 2 * i;
        for (double t = rng.Exponential(crackRate); t < sec; t += rng.Exponential(crackRate))
        {
            double f = rng.Uniform(200, 650), a = rng.Uniform(0.2, 0.5);
            Dsp.AddChirp(x, Sr, t, f, f * 0.92, 0.25, a, rng.Uniform(0.02, 0.05));
            Dsp.AddChirp(x, Sr, t, f * 2.3, f * 2.2, 0.1, a * 0.5, 0.012);
        }
        return x;
    }
}
