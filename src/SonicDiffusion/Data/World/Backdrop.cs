using SkiaSharp;

namespace SonicDiffusion.Data.World;

/// <summary>The shared parts of outdoor scenes: sky with sun/moon/stars/clouds, the far layer and the ground.</summary>
internal static class Backdrop
{
    public static readonly SKColor Grass = new(86, 160, 62), Wheat = new(222, 186, 84), Sand = new(226, 200, 146),
        Snow = new(236, 242, 250), Mud = new(112, 78, 48), Rock = new(128, 124, 120), Asphalt = new(70, 72, 78), Water = new(52, 118, 178);

    /// <summary>Sky gradient, sun or moon, stars and clouds (or an overcast cloud deck).</summary>
    public static void Sky(SceneCanvas s, float horizon)
    {
        var c = s.Main;
        s.VerticalGradient(c, 0, horizon + 2, s.Pal.SkyTop, s.Pal.SkyHorizon);
        if (s.Pal.Overcast)
        {
            var deck = Palette.Mix(s.Pal.SkyTop, SKColors.Black, 0.25);
            int n = s.Rng.Range(6, 9);
            for (int k = 0; k < n; k++)
                s.Cloud(c, s.R(-10, SceneCanvas.W + 10), s.R(4, horizon * 0.45f), s.R(40, 70), Palette.Jitter(s.Rng, deck, 5, 0.1, 0.12), Palette.Mix(deck, SKColors.Black, 0.3));
            return;
        }
        switch (s.Pal.Time)
        {
            case TimeOfDay.Day:
                {
                    float x = s.R(12, SceneCanvas.W - 12), y = s.R(10, horizon * 0.45f), r = s.R(6, 9);
                    s.RadialGlow(c, x, y, r * 3, new SKColor(255, 250, 220, 120));
                    c.DrawCircle(x, y, r, s.Fill(new SKColor(255, 246, 200)));
                    break;
                }
            case TimeOfDay.Dusk:
                {
                    float x = s.R(15, SceneCanvas.W - 15), r = s.R(9, 14);
                    s.RadialGlow(c, x, horizon, r * 3.5f, new SKColor(255, 170, 90, 140));
                    c.DrawCircle(x, horizon - r * s.R(0.1, 0.6), r, s.Fill(Palette.Hsv(s.Rng.Uniform(12, 35), 75, 100)));
                    break;
                }
            default:
                {
                    int stars = s.Rng.Range(14, 28);
                    for (int k = 0; k < stars; k++)
                        c.DrawCircle(s.R(0, SceneCanvas.W), s.R(0, horizon * 0.8f), s.R(0.5, 1.1), s.Fill(new SKColor(255, 255, 235, (byte)s.Rng.Range(150, 255))));
                    float x = s.R(14, SceneCanvas.W - 14), y = s.R(10, horizon * 0.4f), r = s.R(6, 8);
                    s.RadialGlow(c, x, y, r * 2.5f, new SKColor(220, 230, 255, 70));
                    c.DrawCircle(x, y, r, s.Fill(new SKColor(240, 240, 220)));
                    if (s.Rng.Chance(0.6)) c.DrawCircle(x + r * s.R(0.4, 0.7), y - r * 0.2f, r * 0.9f, s.Fill(s.Pal.SkyTop));
                    break;
                }
        }
        int clouds = s.Rng.Range(0, 3);
        var white = s.Pal.Time == TimeOfDay.Night ? new SKColor(70, 76, 100) : s.Pal.Shade(new SKColor(250, 250, 252));
        for (int k = 0; k < clouds; k++)
            s.Cloud(c, s.R(0, SceneCanvas.W), s.R(8, horizon * 0.5f), s.R(22, 40), Palette.Jitter(s.Rng, white, 5, 0.1, 0.05));
    }

    /// <summary>The far layer resting on the horizon line.</summary>
    public static void Far(SceneCanvas s, FarLayer far, float horizon)
    {
        var c = s.Main;
        var pal = s.Pal;
        switch (far)
        {
            case FarLayer.Hills:
                s.Ridge(c, horizon - s.R(6, 12), s.R(3, 7), horizon + 4, s.Fill(pal.Shade(Palette.Jitter(s.Rng, new SKColor(110, 150, 120), 15))));
                s.Ridge(c, horizon - s.R(1, 5), s.R(2, 5), horizon + 4, s.Fill(pal.Shade(Palette.Jitter(s.Rng, new SKColor(80, 140, 70), 15))));
                break;
            case FarLayer.Forest:
                {
                    var green = pal.Shade(Palette.Jitter(s.Rng, new SKColor(40, 96, 58), 15));
                    var trunk = pal.Shade(new SKColor(80, 56, 40));
                    for (float x = s.R(-6, 0); x < SceneCanvas.W + 8; x += s.R(7, 12))
                        s.Pine(c, x, horizon + 2, s.R(14, 26), Palette.Jitter(s.Rng, green, 6, 0.1, 0.15), trunk);
                    break;
                }
            case FarLayer.Mountains:
                {
                    int n = s.Rng.Range(2, 4);
                    var rock = Palette.Jitter(s.Rng, new SKColor(110, 116, 140), 15);
                    for (int k = 0; k < n; k++)
                    {
                        float x = s.R(-10, SceneCanvas.W + 10), h = s.R(22, 48), w = h * s.R(1.1, 1.7);
                        var col = pal.Shade(Palette.Jitter(s.Rng, rock, 5, 0.1, 0.12));
                        s.Polygon(c, [new(x - w, horizon + 2), new(x, horizon - h), new(x + w, horizon + 2)], s.Fill(col));
                        float cap = s.R(0.25, 0.4);
                        s.Polygon(c, [new(x - w * cap, horizon - h * (1 - cap)), new(x, horizon - h), new(x + w * cap, horizon - h * (1 - cap)),
                            new(x + w * cap * 0.3f, horizon - h * (1 - cap) + 3), new(x - w * cap * 0.2f, horizon - h * (1 - cap) - 1)], s.Fill(pal.Shade(new SKColor(240, 244, 250))));
                    }
                    break;
                }
            case FarLayer.City:
                {
                    var wall = Palette.Jitter(s.Rng, pal.Dark ? new SKColor(30, 32, 44) : pal.Shade(new SKColor(96, 100, 116)), 10, 0.2, 0.15);
                    bool lit = pal.Time != TimeOfDay.Day;
                    for (float x = s.R(-4, 0); x < SceneCanvas.W; )
                    {
                        float bw = s.R(9, 18), bh = s.R(14, 46);
                        var col = Palette.Jitter(s.Rng, wall, 4, 0.1, 0.15);
                        c.DrawRect(x, horizon - bh, bw, bh + 3, s.Fill(col));
                        for (float wy = horizon - bh + 3; wy < horizon - 3; wy += 5)
                            for (float wx = x + 2; wx < x + bw - 3; wx += 4)
                                if (s.Rng.Chance(lit ? 0.45 : 0.8))
                                    c.DrawRect(wx, wy, 2, 2.5f, s.Fill(lit ? new SKColor(255, 214, 120) : Palette.Mix(col, SKColors.White, 0.35)));
                        x += bw + s.R(0, 3);
                    }
                    break;
                }
            case FarLayer.Sea:
                {
                    var sea = pal.Shade(Palette.Jitter(s.Rng, Water, 15));
                    c.DrawRect(0, horizon, SceneCanvas.W, SceneCanvas.H - horizon, s.Fill(sea));
                    for (int k = 0; k < 8; k++)
                    {
                        float y = horizon + 2 + k * 2.5f, x = s.R(0, SceneCanvas.W);
                        c.DrawLine(x, y, x + s.R(8, 20), y, s.Stroke(Palette.Mix(sea, SKColors.White, 0.3), 1));
                    }
                    break;
                }
            case FarLayer.Dunes:
                s.Ridge(c, horizon - s.R(4, 10), s.R(3, 8), horizon + 4, s.Fill(pal.Shade(Palette.Jitter(s.Rng, new SKColor(214, 170, 110), 10))), 1.0);
                s.Ridge(c, horizon - s.R(0, 4), s.R(2, 5), horizon + 4, s.Fill(pal.Shade(Palette.Jitter(s.Rng, new SKColor(230, 190, 130), 10))), 1.3);
                break;
        }
    }

    /// <summary>The foreground ground from <paramref name="top"/> down, with a little texture.</summary>
    public static void Ground(SceneCanvas s, GroundKind kind, float top)
    {
        var c = s.Main;
        var pal = s.Pal;
        var baseColor = kind switch
        {
            GroundKind.Grass => Palette.Jitter(s.Rng, Grass, 18, 0.2, 0.12),
            GroundKind.Wheat => Palette.Jitter(s.Rng, Wheat, 6),
            GroundKind.Sand => Palette.Jitter(s.Rng, Sand, 8),
            GroundKind.Snow => Palette.Jitter(s.Rng, Snow, 8, 0.3, 0.03),
            GroundKind.Mud => Palette.Jitter(s.Rng, Mud, 8, 0.15, 0.15),
            GroundKind.Rock => Palette.Jitter(s.Rng, Rock, 20, 0.3, 0.12),
            GroundKind.Street => Palette.Jitter(s.Rng, new SKColor(120, 124, 120), 10),
            GroundKind.Water => Palette.Jitter(s.Rng, Water, 18, 0.2, 0.12),
            _ => Palette.Jitter(s.Rng, Sand, 8),
        };
        var near = pal.Shade(Palette.Mix(baseColor, SKColors.Black, 0.15));
        var far = pal.Shade(Palette.Mix(baseColor, SKColors.White, kind == GroundKind.Water ? 0.25 : 0.1));
        if (kind == GroundKind.Water) far = Palette.Mix(far, s.Pal.SkyHorizon, 0.35);
        s.VerticalGradient(c, top, SceneCanvas.H, far, near);
        float depth = SceneCanvas.H - top;
        switch (kind)
        {
            case GroundKind.Grass:
            case GroundKind.Wheat:
                for (int k = 0; k < 40; k++)
                {
                    float y = top + depth * MathF.Pow(s.R(0, 1), 0.7f), x = s.R(0, SceneCanvas.W), h = 1.5f + 4 * (y - top) / depth;
                    c.DrawLine(x, y, x + s.R(-1, 1), y - h, s.Stroke(Palette.Mix(near, SKColors.Black, 0.2), 1.2f));
                }
                break;
            case GroundKind.Sand:
            case GroundKind.Snow:
                for (int k = 0; k < 6; k++)
                {
                    float y = top + s.R(0.15, 1) * depth, x = s.R(-10, SceneCanvas.W);
                    c.DrawOval(x, y, s.R(10, 24), s.R(1.2, 2.5), s.Fill(Palette.Mix(near, SKColors.Black, 0.08).WithAlpha(160)));
                }
                break;
            case GroundKind.Mud:
            case GroundKind.Rock:
                for (int k = 0; k < 12; k++)
                {
                    float y = top + s.R(0.1, 1) * depth, x = s.R(0, SceneCanvas.W), r = 1 + 4 * (y - top) / depth;
                    var col = kind == GroundKind.Rock ? Palette.Mix(near, SKColors.White, 0.15) : Palette.Mix(near, SKColors.Black, 0.25);
                    c.DrawOval(x, y, r * s.R(1.2, 2), r, s.Fill(col));
                }
                break;
            case GroundKind.Street:
                {
                    float vx = s.R(40, 88);
                    var road = pal.Dark ? new SKColor(28, 30, 36) : pal.Shade(Asphalt);
                    s.Polygon(c, [new(vx - 4, top), new(vx + 4, top), new(SceneCanvas.W + 30, SceneCanvas.H), new(-30, SceneCanvas.H)], s.Fill(road));
                    var dash = pal.Shade(new SKColor(235, 220, 150));
                    for (float t = 0.1f; t < 1; t += 0.22f)
                    {
                        float y0 = top + depth * t * t, y1 = top + depth * (t + 0.1f) * (t + 0.1f);
                        float xx0 = vx + (SceneCanvas.W / 2 - vx) * t * t, xx1 = vx + (SceneCanvas.W / 2 - vx) * (t + 0.1f) * (t + 0.1f);
                        c.DrawLine(xx0, y0, xx1, y1, s.Stroke(dash, 0.5f + 2.5f * t, SKStrokeCap.Butt));
                    }
                    break;
                }
            case GroundKind.Water:
                for (int k = 0; k < 14; k++)
                {
                    float y = top + depth * MathF.Pow(s.R(0.05, 1), 1.3f), x = s.R(-10, SceneCanvas.W), w = 4 + 20 * (y - top) / depth;
                    c.DrawLine(x, y, x + w, y, s.Stroke(Palette.Mix(near, SKColors.White, 0.3).WithAlpha(180), 1 + (y - top) / depth));
                }
                break;
        }
    }
}
