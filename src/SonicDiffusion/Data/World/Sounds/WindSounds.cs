using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for wind noise; recipe 0 is the world's original one.</summary>
internal static class WindSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("gusts", Wind),
    ];

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
}
