using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for underwater bubbling; recipe 0 is the world's original one.</summary>
internal static class BubbleSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("clusters", Bubbles),
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
}
