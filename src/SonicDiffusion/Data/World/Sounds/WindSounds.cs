using static SonicDiffusion.Data.World.Dsp;

namespace SonicDiffusion.Data.World.Sounds;

/// <summary>Recipes for wind noise; recipe 0 is the world's original one.</summary>
internal static class WindSounds
{
    private const int Sr = SoundSynth.SampleRate;

    public static readonly SoundRecipe[] Recipes =
    [
        new("gusts", Wind),
        new("howl", Howl),
        new("buffeting", Buffeting),
        new("rustle", Rustle),
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

    /// <summary>Wind howling round obstacles: narrow whistles whose pitch follows the wind speed (Strouhal shedding) over a soft body.</summary>
    private static double[] Howl(WorldRandom rng, int n, double i)
    {
        var speed = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(0.15, 0.4) + 0.4 * i, 0.15, 1);
        var white = Dsp.White(rng, n);
        var pink = Dsp.Pink(rng, n);
        int tones = rng.Range(2, 3);
        var f = new double[tones];
        var q = new double[tones];
        var bp = new Biquad[tones];
        for (int t = 0; t < tones; t++)
        {
            f[t] = rng.Uniform(350, 800) * (1 + t * rng.Uniform(0.35, 0.8));
            q[t] = rng.Uniform(30, 60);
            bp[t] = Biquad.Bandpass(f[t], q[t], Sr);
        }
        var body = Biquad.Bandpass(300, 0.7, Sr);
        double pitchUp = 0.5 + 0.7 * i;
        var x = new double[n];
        for (int k = 0; k < n; k++)
        {
            double s = speed[k];
            if ((k & 63) == 0)
            {
                for (int t = 0; t < tones; t++) bp[t].SetBandpass(f[t] * (0.7 + pitchUp * s), q[t], Sr);
                body.SetBandpass(120 + 300 * s, 0.7, Sr);
            }
            double w = 0;
            for (int t = 0; t < tones; t++) w += bp[t].Process(white[k]);
            x[k] = 0.5 * s * s * body.Process(pink[k]) + (25 + 25 * i) * s * s * w;
        }
        return x;
    }

    /// <summary>Wind on a microphone: low buffeting bursts that overload the capsule (soft clipping), a light rustle of air behind.</summary>
    private static double[] Buffeting(WorldRandom rng, int n, double i)
    {
        var rumble = Filtered(Dsp.Brown(rng, n), Biquad.Lowpass(rng.Uniform(90, 160), 0.8, Sr));
        Normalize(rumble, 1);
        var gust = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(1.0, 2.0) + 2 * i);
        var flutter = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(8, 16), 0.3, 1);
        var air = Bed(Dsp.Pink(rng, n), Biquad.Bandpass(rng.Uniform(500, 1200), 0.6, Sr), 0.04);
        double threshold = 0.6 - 0.4 * i, drive = 1.5 + 2 * i;
        var x = new double[n];
        for (int k = 0; k < n; k++)
        {
            double g = Math.Max(0, gust[k] - threshold) / (1 - threshold);
            double v = drive * g * g * flutter[k] * rumble[k];
            x[k] = Math.Tanh(v) + (0.5 + 0.5 * gust[k]) * air[k];
        }
        return x;
    }

    /// <summary>Leaves rustling in the wind: a granular patter of short high-band noise grains whose rate follows the gusts.</summary>
    private static double[] Rustle(WorldRandom rng, int n, double i)
    {
        double sec = (double)n / Sr;
        var gust = Dsp.SmoothRandom(rng, n, Sr, rng.Uniform(0.4, 1.2), 0.15, 1);
        var grains = new double[n];
        double peak = 150 + 1500 * i;
        for (double t = rng.Exponential(peak); t < sec; t += rng.Exponential(peak))
        {
            double g = gust[Math.Min(n - 1, (int)(t * Sr))];
            if (rng.Chance(g * g)) AddImpulse(grains, Sr, t, Math.Min(4, rng.Pareto(2)));
        }
        double shortDecay = Math.Exp(-1 / (rng.Uniform(0.003, 0.006) * Sr)), longDecay = Math.Exp(-1 / (rng.Uniform(0.015, 0.03) * Sr));
        var noise = Filtered(Dsp.White(rng, n), Biquad.Bandpass(rng.Uniform(2500, 5000), 0.7, Sr));
        noise = Filtered(noise, Biquad.Highpass(1200, 0.7, Sr));
        var swish = Bed(Dsp.Pink(rng, n), Biquad.Bandpass(rng.Uniform(600, 1400), 0.8, Sr), 0.05);
        var x = new double[n];
        double e1 = 0, e2 = 0;
        for (int k = 0; k < n; k++)
        {
            e1 = e1 * shortDecay + grains[k];
            e2 = e2 * longDecay + 0.15 * grains[k];
            x[k] = (e1 + e2) * noise[k] + gust[k] * gust[k] * swish[k];
        }
        return x;
    }
}
