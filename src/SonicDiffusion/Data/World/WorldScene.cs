namespace SonicDiffusion.Data.World;

/// <summary>
/// Everything that defines one sample of the synthetic world. <see cref="Seed"/> feeds independent random streams for
/// the image, the sound and the caption, so the sample can be regenerated on its own. <see cref="World"/> 1 draws each
/// class as its own layout (the world of the shipped round-2 bundle); world 2 draws the class as an event into a
/// class-independent <see cref="Backdrop"/> and picks one of the class's sound recipes (<see cref="Recipe"/>).
/// </summary>
public sealed record WorldScene(int Index, ulong Seed, WorldClass Class, double Intensity, TimeOfDay TimeOfDay,
    WorldSetting Setting, double DurationSeconds, string Split, int World = 1, SceneBackdrop? Backdrop = null, int Recipe = 0)
{
    public WorldClassInfo Info => WorldClasses.Info(Class);

    internal const ulong ImageStream = 0x1111, AudioStream = 0x2222, CaptionStream = 0x3333, BackdropStream = 0x4444;

    internal WorldRandom Stream(ulong salt) => WorldRandom.Derive(Seed, 0, salt);
}
