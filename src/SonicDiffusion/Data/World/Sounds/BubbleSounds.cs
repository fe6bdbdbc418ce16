using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for underwater bubbling; recipe 0 is the world's original one.</summary>
internal static class BubbleSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("clusters", Bubbles),
        new("stream", Stream),
        new("aerator", Aerator),
        new("deep", Deep),
    ];

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

    /// <summary>Rising bubble streams from one to three vents: near-regular releases of similar bubbles, each rising in pitch.</summary>
    private static double[] Stream(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr;
        var x = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(300, 0.7, Sr), 0.01 + 0.01 * i);
        int vents = rng.Range(1, 3);
        for (int v = 0; v < vents; v++)
        {
            double radius = rng.Uniform(1.2, 4), rate = rng.Uniform(6, 15) + 50 * i, rise = rng.Uniform(0.2, 0.4), level = rng.Uniform(0.6, 1);
            var puff = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(0.3, 1), 0.2, 1);
            for (double t = rng.Uniform(0, 0.3); t < sec; t += rng.Uniform(0.6, 1.4) / rate)
            {
                double p = puff[Math.Min(n - 1, (int)(t * Sr))];
                if (!rng.Chance(0.3 + 0.7 * p)) continue;
                double r = radius * rng.Uniform(0.85, 1.15);
                Dsp.AddBubble(x, Sr, t, r, 0.05 * r * level * p, rise);
            }
        }
        return x;
    }

    /// <summary>An aquarium aerator or boiling pot: a continuous fizz of small bubbles, surface gurgle and the pump's mains hum.</summary>
    private static double[] Aerator(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr, hum = rng.Uniform(0.01, 0.03);
        int period = Sr / (rng.Chance(0.5) ? 50 : 60);
        var cycle = new double[period];
        ReadOnlySpan<double> harmonics = [0.5, 1, 0.6, 0.3];
        for (int k = 0; k < period; k++)
            for (int h = 0; h < harmonics.Length; h++) cycle[k] += hum * harmonics[h] * Math.Sin(2 * Math.PI * (h + 1) * k / period);
        var x = new double[n];
        for (int k = 0; k < n; k++) x[k] = cycle[k % period];
        var gurgle = Filtered(Dsp.White(rng, n), Biquad.Bandpass(rng.Uniform(300, 900), 1.5, Sr));
        var am = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(10, 20));
        Normalize(gurgle, 0.02 + 0.02 * i);
        for (int k = 0; k < n; k++) x[k] += am[k] * am[k] * gurgle[k];
        double rate = 300 + 1500 * i;
        for (double t = rng.Exponential(rate); t < sec; t += rng.Exponential(rate))
            Dsp.AddBubble(x, Sr, t, rng.Uniform(0.4, 1.5), rng.Uniform(0.01, 0.03), 0.2);
        return x;
    }

    /// <summary>Deep-water ambience: a muffled swelling low rumble and now and then a diver's burst of big bubbles.</summary>
    private static double[] Deep(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr;
        var x = Filtered(Dsp.Brown(rng, n), Biquad.Lowpass(rng.Uniform(150, 300), 0.7, Sr));
        var swell = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(0.1, 0.3), 0.3, 1);
        for (int k = 0; k < n; k++) x[k] *= swell[k];
        Normalize(x, 0.05);
        var whoosh = Filtered(Dsp.White(rng, 2 * Sr), Biquad.Lowpass(600, 0.7, Sr));
        Normalize(whoosh, 0.1);
        double rate = 0.2 + 0.6 * i;
        for (double t = rng.Uniform(0.05, 1.0); t < sec - 0.3; t += rng.Exponential(rate) + 0.8)
        {
            double len = rng.Uniform(0.5, 1.5), a = rng.Uniform(0.6, 1);
            Dsp.AddBurst(x, Sr, t, whoosh, a, 0.1, len * 0.5, 2);
            int bubbles = rng.Range(20, 40 + (int)(60 * i));
            for (int b = 0; b < bubbles; b++)
                Dsp.AddBubble(x, Sr, t + len * Math.Pow(rng.NextDouble(), 1.5), rng.Uniform(3, 12), a * rng.Uniform(0.05, 0.12), 0.15);
        }
        return x;
    }
}
