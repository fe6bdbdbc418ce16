using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for waterfall burbling; recipe 0 is the world's original one.</summary>
internal static class WaterfallSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("roar", Waterfall),
        new("broadband", Broadband),
        new("brook", Brook),
        new("cascade", Cascade),
    ];

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

    /// <summary>A big fall heard from afar: a steady pink/brown roar whose colour and level drift slowly, with no distinct events.</summary>
    private static double[] Broadband(WorldRandom rng, int n, double i)
    {
        var pink = Dsp.Pink(rng, n);
        var brown = Dsp.Brown(rng, n);
        Normalize(pink, 1);
        Normalize(brown, 1);
        double mix = rng.Uniform(0.3, 0.7);
        var drift = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(0.1, 0.4), 0.8, 1);
        var tilt = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(0.1, 0.3), 0.3, 1);
        var lp = Biquad.Lowpass(1500 + 4000 * i, 0.7, Sr);
        var hp = Biquad.Highpass(rng.Uniform(30, 60), 0.7, Sr);
        var x = new double[n];
        for (int k = 0; k < n; k++)
        {
            double b = mix * tilt[k];
            x[k] = drift[k] * hp.Process(lp.Process((1 - b) * pink[k] + b * brown[k]));
        }
        return x;
    }

    /// <summary>A brook over stones: many bubbles ringing and rising (Minnaert), a gurgling low band and a little hiss.</summary>
    private static double[] Brook(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr;
        var x = Bed(Dsp.White(rng, n), Biquad.Highpass(2000, 0.7, Sr), 0.003 + 0.003 * i);
        var gurgle = Filtered(Dsp.Brown(rng, n), Biquad.Bandpass(rng.Uniform(250, 500), 2, Sr));
        var am = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(4, 9));
        for (int k = 0; k < n; k++) gurgle[k] *= am[k] * am[k] * am[k];
        Normalize(gurgle, 0.02 + 0.02 * i);
        for (int k = 0; k < n; k++) x[k] += gurgle[k];
        double rate = 60 + 400 * i;
        for (double t = rng.Exponential(rate); t < sec; t += rng.Exponential(rate))
        {
            double r = Math.Min(4, rng.Pareto(1.8));
            Dsp.AddBubble(x, Sr, t, r, 0.03 * r * rng.Uniform(0.4, 1), rng.Uniform(0.1, 0.25));
        }
        return x;
    }

    /// <summary>A cascade over rocks: a dense patter of splashes, larger slaps, a mid-band roar and a steady low rumble.</summary>
    private static double[] Cascade(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr;
        var rumble = Bed(Dsp.Brown(rng, n), Biquad.Lowpass(rng.Uniform(80, 150), 0.7, Sr), 0.06);
        var roar = Bed(Dsp.White(rng, n), Biquad.Bandpass(rng.Uniform(600, 1200), 0.6, Sr), 0.02 + 0.02 * i);
        var patter = new double[n];
        double rate = 400 + 3000 * i;
        for (double t = rng.Exponential(rate); t < sec; t += rng.Exponential(rate))
            AddImpulse(patter, Sr, t, Math.Min(3, 0.3 * rng.Pareto(2)) * (rng.Chance(0.5) ? 1 : -1));
        var bp = Biquad.Bandpass(rng.Uniform(1500, 4000), 1, Sr);
        var x = new double[n];
        for (int k = 0; k < n; k++) x[k] = rumble[k] + roar[k] + 0.6 * bp.Process(patter[k]);
        var slap = Filtered(Dsp.White(rng, Sr / 4), Biquad.Bandpass(rng.Uniform(500, 1500), 0.8, Sr));
        double slapRate = 5 + 20 * i;
        for (double t = rng.Exponential(slapRate); t < sec; t += rng.Exponential(slapRate))
            Dsp.AddBurst(x, Sr, t, slap.AsSpan(rng.Next(Sr / 8)), rng.Uniform(0.1, 0.3), 0.002, rng.Uniform(0.03, 0.08), 0.12);
        return x;
    }
}
