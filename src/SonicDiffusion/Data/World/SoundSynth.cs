using SonicDiffusion.Core;
using SonicDiffusion.Data.World.Sounds;

namespace SonicDiffusion.Data.World;

/// <summary>
/// Physically motivated sound recipes, several per class (one file per class under Sounds/). Intensity in [0,1] raises
/// both the density of events and the loudness. Output: mono float samples in [-1, 1] at <see cref="SampleRate"/>.
/// </summary>
public static class SoundSynth
{
    public const int SampleRate = 44100;
    private const int Sr = SampleRate;

    /// <summary>The original recipe of the class (recipe 0); kept sample for sample as the world was first made.</summary>
    public static float[] Synthesize(WorldClass cls, double intensity, double seconds, WorldRandom rng) => Synthesize(cls, 0, intensity, seconds, rng);

    /// <summary>Recipe <paramref name="recipe"/> (0 to <see cref="RecipeCount"/> - 1) of the class.</summary>
    public static float[] Synthesize(WorldClass cls, int recipe, double intensity, double seconds, WorldRandom rng)
    {
        var recipes = Recipes(cls);
        if (recipe < 0 || recipe >= recipes.Length)
            throw new SonicException($"{WorldClasses.Info(cls).Label} has sound recipes 0 to {recipes.Length - 1}, not {recipe}");
        int n = Math.Max(1, (int)Math.Round(seconds * Sr));
        double i = Math.Clamp(intensity, 0, 1);
        var x = recipes[recipe].Render(rng, n, i);
        if (recipe == 0)
        {
            double trimDb = cls switch
            {
                WorldClass.Raining => 5,
                WorldClass.FireCrackling or WorldClass.SquishingWater => 4,
                _ => 0,
            };
            return Finish(x, Dsp.Db(trimDb - 10 * (1 - i)));
        }
        // A clap or a blast carries a fixed energy, so the original recipe's clip RMS falls with clip length; the newer
        // recipes of these classes follow it, so that one intensity sounds equally loud whichever recipe made it.
        double lengthDb = cls is WorldClass.Thunder or WorldClass.Explosion ? 10 * Math.Log10(6 / Math.Clamp(seconds, 1, 20)) : 0;
        Dsp.Filtered(x, Biquad.Highpass(20, 0.7, Sr));
        Dsp.Normalize(x, Dsp.Db(LevelDb(cls, i) + lengthDb + rng.Uniform(-1, 1)));
        return Finish(x, 1);
    }

    public static int RecipeCount(WorldClass cls) => Recipes(cls).Length;

    /// <summary>A stable id of the recipe, "label/name" (e.g. "fire_crackling/embers").</summary>
    public static string RecipeName(WorldClass cls, int recipe)
    {
        var recipes = Recipes(cls);
        if (recipe < 0 || recipe >= recipes.Length)
            throw new SonicException($"{WorldClasses.Info(cls).Label} has sound recipes 0 to {recipes.Length - 1}, not {recipe}");
        return $"{WorldClasses.Info(cls).Label}/{recipes[recipe].Name}";
    }

    private static SoundRecipe[] Recipes(WorldClass cls) => cls switch
    {
        WorldClass.WindNoise => WindSounds.Recipes,
        WorldClass.SquishingWater => SquishSounds.Recipes,
        WorldClass.SplashingWater => SplashSounds.Recipes,
        WorldClass.FireCrackling => FireSounds.Recipes,
        WorldClass.Raining => RainSounds.Recipes,
        WorldClass.UnderwaterBubbling => BubbleSounds.Recipes,
        WorldClass.Thunder => ThunderSounds.Recipes,
        WorldClass.WaterfallBurbling => WaterfallSounds.Recipes,
        WorldClass.Explosion => ExplosionSounds.Recipes,
        _ => throw new ArgumentOutOfRangeException(nameof(cls)),
    };

    /// <summary>
    /// RMS level in dBFS that the newer recipes are scaled to (before the soft limiter): the original recipe's mean
    /// level at intensity 0, 0.25, 0.5, 0.75 and 1 (6 s clips, 4 seeds), linearly interpolated, so that every recipe of
    /// a class is as loud as the original at the same intensity.
    /// </summary>
    private static double LevelDb(WorldClass cls, double i)
    {
        double[] curve = cls switch
        {
            WorldClass.WindNoise => [-35.0, -29.0, -24.0, -19.5, -15.4],
            WorldClass.SquishingWater => [-41.3, -35.1, -30.3, -25.3, -20.2],
            WorldClass.SplashingWater => [-42.2, -34.9, -28.9, -23.0, -17.9],
            WorldClass.FireCrackling => [-42.7, -34.6, -28.7, -24.0, -20.1],
            WorldClass.Raining => [-42.0, -33.5, -27.6, -22.6, -18.0],
            WorldClass.UnderwaterBubbling => [-45.2, -34.1, -26.9, -21.1, -14.5],
            WorldClass.Thunder => [-40.3, -32.5, -24.4, -18.4, -13.7],
            WorldClass.WaterfallBurbling => [-35.0, -28.5, -23.2, -18.7, -14.5],
            WorldClass.Explosion => [-37.5, -29.1, -22.7, -17.4, -13.0],
            _ => throw new ArgumentOutOfRangeException(nameof(cls)),
        };
        double u = i * (curve.Length - 1);
        int k = Math.Min((int)u, curve.Length - 2);
        return curve[k] + (curve[k + 1] - curve[k]) * (u - k);
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
