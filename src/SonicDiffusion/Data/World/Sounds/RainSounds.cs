using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for raining; recipe 0 is the world's original one.</summary>
internal static class RainSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("drops", Rain),
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
}
