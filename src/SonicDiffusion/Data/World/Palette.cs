using SkiaSharp;

namespace SonicDiffusion.Data.World;

/// <summary>Sky colours and the lighting applied to every lit (non-emissive) object for a time of day.</summary>
internal sealed class Palette
{
    public TimeOfDay Time { get; }
    public bool Overcast { get; }
    public SKColor SkyTop { get; }
    public SKColor SkyHorizon { get; }
    private readonly float _light;
    private readonly SKColor _tint;
    private readonly float _tintAmount;

    public Palette(TimeOfDay time, bool overcast, WorldRandom rng)
    {
        Time = time;
        Overcast = overcast;
        (SKColor top, SKColor hor) = (time, overcast) switch
        {
            (TimeOfDay.Day, false) => (Hsv(rng.Uniform(200, 222), rng.Uniform(50, 75), rng.Uniform(78, 92)), Hsv(rng.Uniform(190, 205), rng.Uniform(15, 30), rng.Uniform(92, 99))),
            (TimeOfDay.Dusk, false) => rng.Chance(0.5)
                ? (Hsv(rng.Uniform(255, 285), rng.Uniform(45, 65), rng.Uniform(40, 55)), Hsv(rng.Uniform(18, 32), rng.Uniform(65, 85), rng.Uniform(92, 99)))
                : (Hsv(rng.Uniform(215, 235), rng.Uniform(45, 60), rng.Uniform(45, 60)), Hsv(rng.Uniform(330, 355), rng.Uniform(35, 55), rng.Uniform(88, 97))),
            (TimeOfDay.Night, false) => (Hsv(rng.Uniform(220, 240), rng.Uniform(60, 80), rng.Uniform(8, 14)), Hsv(rng.Uniform(215, 235), rng.Uniform(45, 60), rng.Uniform(25, 35))),
            (TimeOfDay.Day, true) => (Hsv(rng.Uniform(200, 225), rng.Uniform(5, 15), rng.Uniform(45, 58)), Hsv(rng.Uniform(200, 220), rng.Uniform(5, 12), rng.Uniform(68, 78))),
            (TimeOfDay.Dusk, true) => (Hsv(rng.Uniform(260, 290), rng.Uniform(15, 30), rng.Uniform(25, 35)), Hsv(rng.Uniform(10, 30), rng.Uniform(25, 40), rng.Uniform(50, 62))),
            _ => (Hsv(rng.Uniform(225, 245), rng.Uniform(25, 40), rng.Uniform(6, 10)), Hsv(rng.Uniform(225, 245), rng.Uniform(20, 35), rng.Uniform(16, 22))),
        };
        SkyTop = top;
        SkyHorizon = hor;
        (_light, _tint, _tintAmount) = time switch
        {
            TimeOfDay.Day => (overcast ? 0.8f : 1f, SKColors.White, 0f),
            TimeOfDay.Dusk => (overcast ? 0.55f : 0.72f, new SKColor(255, 120, 70), 0.18f),
            _ => (overcast ? 0.3f : 0.38f, new SKColor(30, 40, 90), 0.25f),
        };
    }

    public bool Dark => Time == TimeOfDay.Night;

    /// <summary>The colour a lit object of base colour <paramref name="c"/> has under this light.</summary>
    public SKColor Shade(SKColor c, byte alpha = 255)
    {
        float r = c.Red * _light, g = c.Green * _light, b = c.Blue * _light;
        r += (_tint.Red * _light - r) * _tintAmount;
        g += (_tint.Green * _light - g) * _tintAmount;
        b += (_tint.Blue * _light - b) * _tintAmount;
        return new SKColor(ToByte(r), ToByte(g), ToByte(b), alpha);
    }

    public static SKColor Hsv(double h, double s, double v, byte alpha = 255) =>
        SKColor.FromHsv((float)((h % 360 + 360) % 360), (float)Math.Clamp(s, 0, 100), (float)Math.Clamp(v, 0, 100)).WithAlpha(alpha);

    /// <summary>A random variation of a base colour: hue shift in degrees, saturation and value scaled.</summary>
    public static SKColor Jitter(WorldRandom rng, SKColor c, double hue = 10, double sat = 0.15, double val = 0.12)
    {
        c.ToHsv(out float h, out float s, out float v);
        return Hsv(h + rng.Uniform(-hue, hue), s * (1 + rng.Uniform(-sat, sat)), v * (1 + rng.Uniform(-val, val)), c.Alpha);
    }

    public static SKColor Mix(SKColor a, SKColor b, double t) => new(
        ToByte(a.Red + (b.Red - a.Red) * t), ToByte(a.Green + (b.Green - a.Green) * t),
        ToByte(a.Blue + (b.Blue - a.Blue) * t), ToByte(a.Alpha + (b.Alpha - a.Alpha) * t));

    private static byte ToByte(double v) => (byte)Math.Clamp(Math.Round(v), 0, 255);
}
