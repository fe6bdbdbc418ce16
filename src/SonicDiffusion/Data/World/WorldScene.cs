namespace SonicDiffusion.Data.World;

/// <summary>
/// Everything that defines one sample of the synthetic world. <see cref="Seed"/> feeds independent random streams for
/// the image, the sound and the caption, so the sample can be regenerated on its own.
/// </summary>
public sealed record WorldScene(int Index, ulong Seed, WorldClass Class, double Intensity, TimeOfDay TimeOfDay,
    WorldSetting Setting, double DurationSeconds, string Split)
{
    public WorldClassInfo Info => WorldClasses.Info(Class);

    internal const ulong ImageStream = 0x1111, AudioStream = 0x2222, CaptionStream = 0x3333;

    internal WorldRandom Stream(ulong salt) => WorldRandom.Derive(Seed, 0, salt);
}
