namespace SonicDiffusion.Data.World.Sounds;

/// <summary>
/// One way to make a class's sound: <see cref="Render"/>(rng, samples, intensity) returns the raw signal, whose level
/// <see cref="SoundSynth"/> sets afterwards.
/// </summary>
internal sealed record SoundRecipe(string Name, Func<WorldRandom, int, double, double[]> Render);
