using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for explosion; recipe 0 is the world's original one.</summary>
internal static class ExplosionSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("blast", Explosion),
        new("distant_boom", DistantBoom),
        new("barrage", Barrage),
        new("debris", Debris),
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

    /// <summary>A far detonation: a muffled low boom with a soft front and its echoes off hills and buildings.</summary>
    private static double[] DistantBoom(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr, t0 = rng.Uniform(0.1, Math.Min(1.5, sec * 0.3));
        var x = new double[n];
        var boom = Filtered(Dsp.Brown(rng, n), Biquad.Lowpass(250 + 350 * i + rng.Uniform(0, 100), 0.8, Sr));
        Normalize(boom, 0.5);
        Dsp.AddBurst(x, Sr, t0, boom, 2.0, rng.Uniform(0.02, 0.05), 0.6 + 1.2 * i, sec);
        Dsp.AddChirp(x, Sr, t0, rng.Uniform(40, 60), 25, 1.2, 0.6, 0.4 + 0.3 * i);
        int echoes = rng.Range(2, 4);
        var delays = new double[echoes];
        var gains = new double[echoes];
        for (int e = 0; e < echoes; e++) { delays[e] = rng.Uniform(0.5, 2.5); gains[e] = rng.Uniform(0.25, 0.5); }
        Dsp.AddEchoes(x, Sr, delays, gains, 250);
        var bed = Bed(Dsp.Pink(rng, n), Biquad.Lowpass(300, 0.7, Sr), 0.01);
        for (int k = 0; k < n; k++) x[k] += bed[k];
        return x;
    }

    /// <summary>A fireworks display: shells bursting in sharp bright pops at a rate set by intensity, each followed by its stars crackling.</summary>
    private static double[] Barrage(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr, rate = 0.4 + 2.2 * i;
        var x = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(100, 0.7, Sr), 0.004);
        var crackle = new double[n];
        var crack = Filtered(Dsp.White(rng, Sr / 2), Biquad.Highpass(800, 0.7, Sr));
        var rumble = Filtered(Dsp.Brown(rng, 2 * Sr), Biquad.Lowpass(rng.Uniform(200, 400), 0.8, Sr));
        Normalize(rumble, 0.5);
        for (double t = rng.Uniform(0.05, 0.5); t < sec - 0.1; t += rng.Exponential(rate) + 0.15)
        {
            double a = rng.Uniform(0.5, 1);
            Dsp.AddBurst(x, Sr, t, crack.AsSpan(rng.Next(Sr / 4)), 1.2 * a, 0.0003, rng.Uniform(0.003, 0.008), 0.1);
            Dsp.AddChirp(x, Sr, t, rng.Uniform(70, 100), 45, 0.3, 0.4 * a, 0.05);
            Dsp.AddBurst(x, Sr, t, rumble, 0.8 * a, 0.005, rng.Uniform(0.15, 0.3), 1.5);
            double t1 = t + rng.Uniform(0.2, 0.8), len = rng.Uniform(0.5, 1.5);
            int stars = rng.Range(80, 300);
            for (int s = 0; s < stars; s++)
            {
                double u = len * rng.NextDouble();
                AddImpulse(crackle, Sr, t1 + u, a * Math.Exp(-u / len) * rng.Uniform(0.2, 1) * (rng.Chance(0.5) ? 1 : -1));
            }
        }
        var hp = Biquad.Highpass(2000, 0.7, Sr);
        for (int k = 0; k < n; k++) x[k] += 1.5 * hp.Process(crackle[k]);
        return x;
    }

    /// <summary>A close detonation: a shock front, a boom whose brightness falls away, then rocks and gravel raining down (struck modal resonators).</summary>
    private static double[] Debris(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr, t0 = rng.Uniform(0.05, Math.Min(0.6, sec * 0.15));
        var x = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(100, 0.7, Sr), 0.003);
        int k0 = (int)(t0 * Sr), shock = (int)(rng.Uniform(0.02, 0.04) * Sr);
        for (int k = 0; k < shock && k0 + k < n; k++) x[k0 + k] += 1.5 * (1 - 2.0 * k / shock);
        var brown = Dsp.Brown(rng, n);
        Normalize(brown, 0.5);
        var lp = Biquad.Lowpass(2000, 0.8, Sr);
        double tau = rng.Uniform(1.2, 2.0) + 2 * i;
        for (int k = k0; k < n; k++)
        {
            double u = (double)(k - k0) / Sr;
            if (((k - k0) & 31) == 0) lp.SetLowpass(70 + 2500 * Math.Exp(-u / 0.25), 0.8, Sr);
            x[k] += 2.5 * Math.Min(1, u / 0.005) * Math.Exp(-u / tau) * lp.Process(brown[k]);
        }
        double fallTau = rng.Uniform(0.6, 1.2) + 1.2 * i, peakRate = 60 + 150 * i;
        var gravel = new double[n];
        for (double t = t0 + rng.Uniform(0.3, 0.6); t < sec; t += rng.Exponential(peakRate))
        {
            double w = Math.Exp(-(t - t0 - 0.4) / fallTau);
            if (!rng.Chance(Math.Min(1, w))) continue;
            double a = Math.Min(2, 0.15 * rng.Pareto(1.8));
            AddImpulse(gravel, Sr, t, a);
            if (rng.Chance(0.3))
            {
                double f = 300 * Math.Pow(10, rng.NextDouble());
                Dsp.AddChirp(x, Sr, t, f, f, 0.1, 0.5 * a, rng.Uniform(0.005, 0.03));
            }
        }
        var hp = Biquad.Highpass(800, 0.7, Sr);
        for (int k = 0; k < n; k++) x[k] += 3 * hp.Process(gravel[k]);
        return x;
    }
}
