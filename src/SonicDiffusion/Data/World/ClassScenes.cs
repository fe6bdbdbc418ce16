using SkiaSharp;

namespace SonicDiffusion.Data.World;

/// <summary>
/// One drawing per class. Each draws bold, large shapes with a random composition; whatever intensity drives
/// (rain density, flame size, splash size, bubbles, explosion radius, wind streaks, waterfall width, bolts...) goes on
/// the key layer.
/// </summary>
internal static class ClassScenes
{
    private const float W = SceneCanvas.W, H = SceneCanvas.H;

    public static void Draw(WorldClass cls, SceneCanvas s)
    {
        switch (cls)
        {
            case WorldClass.WindNoise: Wind(s); break;
            case WorldClass.SquishingWater: Squelch(s); break;
            case WorldClass.SplashingWater: Splash(s); break;
            case WorldClass.FireCrackling: Fire(s); break;
            case WorldClass.Raining: Rain(s); break;
            case WorldClass.UnderwaterBubbling: Underwater(s); break;
            case WorldClass.Thunder: Thunder(s); break;
            case WorldClass.WaterfallBurbling: Waterfall(s); break;
            case WorldClass.Explosion: Explosion(s); break;
            default: throw new ArgumentOutOfRangeException(nameof(cls));
        }
    }

    /// <summary>Sky, far layer and ground; returns the horizon line.</summary>
    private static float Outdoor(SceneCanvas s, double lo, double hi)
    {
        float hz = s.R(lo, hi) * H;
        Backdrop.Sky(s, hz);
        Backdrop.Far(s, s.Setting.Far, hz);
        float top = s.Setting.Far == FarLayer.Sea && s.Setting.Ground != GroundKind.Water ? hz + s.R(8, 14) : hz + 1;
        Backdrop.Ground(s, s.Setting.Ground, top);
        return hz;
    }

    private static SKColor Lit(SceneCanvas s, SKColor c, double keep = 0.35) => Palette.Mix(s.Pal.Shade(c), c, keep);

    private static void Wind(SceneCanvas s)
    {
        float hz = Outdoor(s, 0.5, 0.62);
        double i = s.Intensity;
        int dir = s.Rng.Chance(0.5) ? 1 : -1;
        float bend = (float)(0.15 + 0.9 * i);
        if (s.Rng.Chance(0.8))
        {
            float x = s.R(0.2, 0.8) * W, by = hz + s.R(4, 18), h = s.R(38, 56);
            float topX = x + dir * h * MathF.Sin(bend * 0.55f), topY = by - h * MathF.Cos(bend * 0.35f);
            using (var trunk = new SKPath())
            {
                trunk.MoveTo(x, by);
                trunk.QuadTo(x, by - h * 0.5f, topX, topY);
                s.Main.DrawPath(trunk, s.Stroke(s.Pal.Shade(new SKColor(96, 66, 42)), s.R(4, 6)));
            }
            var leaf = s.Pal.Shade(Palette.Jitter(s.Rng, new SKColor(58, 130, 54), 20, 0.2, 0.15));
            for (int k = 0; k < 3; k++)
            {
                float cx = topX + dir * h * (0.1f + 0.18f * bend) * (k - 0.6f) * 0.6f, cy = topY - h * 0.1f + k * 3;
                s.Main.Save();
                s.Main.RotateDegrees(dir * bend * 25, cx, cy);
                s.Main.DrawOval(cx, cy, h * 0.3f * (1 + 0.3f * bend), h * 0.22f * (1 - 0.3f * bend), s.Fill(Palette.Jitter(s.Rng, leaf, 5, 0.1, 0.12)));
                s.Main.Restore();
            }
        }
        var blade = s.Setting.Ground switch
        {
            GroundKind.Wheat => new SKColor(232, 196, 90),
            GroundKind.Sand => new SKColor(170, 180, 90),
            _ => new SKColor(70, 160, 60),
        };
        int blades = s.Rng.Range(45, 70);
        for (int k = 0; k < blades; k++)
        {
            float y = hz + (H - hz) * s.R(0.3, 1.05), x = s.R(-4, W + 4);
            float h = s.R(10, 22) * (0.6f + 0.6f * (y - hz) / (H - hz)), a = dir * bend * s.R(0.8, 1.2), bw = s.R(1.5, 2.5);
            float tx = x + MathF.Sin(a) * h, ty = y - MathF.Cos(a) * h;
            using var p = new SKPath();
            p.MoveTo(x - bw, y);
            p.QuadTo(x + MathF.Sin(a) * h * 0.3f, y - h * 0.6f, tx, ty);
            p.QuadTo(x + MathF.Sin(a) * h * 0.3f, y - h * 0.6f, x + bw, y);
            p.Close();
            s.Main.DrawPath(p, s.Fill(s.Pal.Shade(Palette.Jitter(s.Rng, blade, 8, 0.15, 0.2))));
        }
        int streaks = 1 + (int)Math.Round(6 * i);
        var streakColor = s.Pal.Dark ? new SKColor(200, 214, 240, 190) : new SKColor(255, 255, 255, 215);
        for (int k = 0; k < streaks; k++)
        {
            float y0 = s.R(8, hz + (H - hz) * 0.4f), len = s.R(35, 75), amp = s.R(3, 8), x0 = s.R(-15, W - len * 0.6f), r = s.R(3, 5.5);
            using var p = new SKPath();
            p.MoveTo(x0, y0);
            p.CubicTo(x0 + len * 0.33f, y0 - amp, x0 + len * 0.66f, y0 + amp, x0 + len, y0);
            p.ArcTo(new SKRect(x0 + len - r, y0 - 2 * r, x0 + len + r, y0), 90, -300, false);
            if (dir < 0) p.Transform(SKMatrix.CreateScale(-1, 1, W / 2, 0));
            s.Key.DrawPath(p, s.Stroke(streakColor, s.R(2.2, 3.2)));
        }
        int leaves = (int)Math.Round(14 * i);
        for (int k = 0; k < leaves; k++)
        {
            float x = s.R(0, W), y = s.R(10, H - 10);
            s.Key.Save();
            s.Key.RotateDegrees(s.R(0, 180), x, y);
            s.Key.DrawOval(x, y, s.R(2.5, 3.5), s.R(1.2, 1.8), s.Fill(s.Pal.Shade(Palette.Hsv(s.Rng.Uniform(20, 110), 75, 80))));
            s.Key.Restore();
        }
    }

    private static void Squelch(SceneCanvas s)
    {
        float hz = Outdoor(s, 0.28, 0.38);
        double i = s.Intensity;
        var mud = s.Pal.Shade(Palette.Jitter(s.Rng, Backdrop.Mud, 8, 0.1, 0.1));
        var dark = Palette.Mix(mud, SKColors.Black, 0.45);
        var reflect = Palette.Mix(s.Pal.SkyHorizon, mud, 0.45);
        int puddles = s.Rng.Range(1, 3);
        for (int k = 0; k < puddles; k++)
        {
            float y = s.R(hz + 10, H - 10), rx = 6 + 16 * (y - hz) / (H - hz);
            s.Main.DrawOval(s.R(0, W), y, rx * s.R(1, 1.8), rx * 0.3f, s.Fill(reflect));
        }
        float bx = s.R(0.3, 0.7) * W, by = s.R(0.74, 0.86) * H, sc = s.R(0.9, 1.15);
        s.Main.DrawOval(bx, by, s.R(22, 30), s.R(6, 9), s.Fill(dark));
        s.Main.DrawOval(bx, by - 1, s.R(18, 24), s.R(4.5, 7), s.Fill(reflect));
        int prints = 1 + (int)Math.Round(5 * i);
        float fx = s.R(0.2, 0.8) * W, fy = hz + 10;
        var wet = Palette.Mix(reflect, SKColors.White, 0.15);
        float ang = MathF.Atan2(by - 10 - fy, bx - fx) * 180 / MathF.PI - 90;
        for (int k = 0; k < prints; k++)
        {
            float t = (k + 0.6f) / (prints + 0.8f);
            float px = fx + (bx - fx) * t + (k % 2 == 0 ? -1 : 1) * (3 + 5 * t), py = fy + (by - 14 - fy) * t;
            float ps = 0.8f + 1.1f * t;
            s.Key.Save();
            s.Key.Translate(px, py);
            s.Key.Scale(1, 0.55f);
            s.Key.RotateDegrees(ang);
            s.Key.DrawOval(0, 3 * ps, 5 * ps, 7.5f * ps, s.Fill(dark));
            s.Key.DrawOval(0, -8 * ps, 4 * ps, 4.5f * ps, s.Fill(dark));
            s.Key.DrawOval(0, 3 * ps, 3.2f * ps, 5.5f * ps, s.Fill(wet));
            s.Key.DrawOval(0, -8 * ps, 2.5f * ps, 3 * ps, s.Fill(wet));
            s.Key.Restore();
        }
        var bootColor = Lit(s, Palette.Jitter(s.Rng, s.Rng.Pick(BootColors), 8, 0.1, 0.1), 0.45);
        int toe = s.Rng.Chance(0.5) ? 1 : -1;
        float shaftW = 15 * sc, shaftH = 32 * sc;
        using (var boot = new SKPath())
        {
            boot.AddRoundRect(new SKRect(bx - shaftW / 2, by - shaftH - 8 * sc, bx + shaftW / 2, by), 3, 3);
            float x0 = toe > 0 ? bx - shaftW / 2 : bx - shaftW / 2 - 14 * sc, x1 = toe > 0 ? bx + shaftW / 2 + 14 * sc : bx + shaftW / 2;
            boot.AddRoundRect(new SKRect(x0, by - 11 * sc, x1, by), 5 * sc, 5 * sc);
            s.Main.DrawPath(boot, s.Fill(bootColor));
            s.Main.DrawRect(x0 + 1, by - 3 * sc, x1 - x0 - 2, 3 * sc, s.Fill(Palette.Mix(bootColor, SKColors.Black, 0.55)));
            s.Main.DrawRect(bx - shaftW / 2 - 1, by - shaftH - 8 * sc, shaftW + 2, 4 * sc, s.Fill(Palette.Mix(bootColor, SKColors.Black, 0.35)));
            s.Main.DrawLine(bx - shaftW / 2 + 3, by - shaftH - 2, bx - shaftW / 2 + 3, by - 14 * sc, s.Stroke(Palette.Mix(bootColor, SKColors.White, 0.35), 2));
        }
        s.Main.DrawOval(bx, by, 18 * sc, 3.5f * sc, s.Fill(Palette.Mix(reflect, dark, 0.3)));
        float ring = 14 + 16 * (float)i;
        s.Key.DrawOval(bx, by, ring, ring * 0.28f, s.Stroke(Palette.Mix(reflect, SKColors.White, 0.4), 2));
        int drops = 3 + (int)Math.Round(16 * i);
        for (int k = 0; k < drops; k++)
        {
            float a = s.R(-MathF.PI * 0.95, -MathF.PI * 0.05), d = s.R(12, 18 + 22 * (float)i);
            float x = bx + MathF.Cos(a) * d * 1.2f, y = by - 6 + MathF.Sin(a) * d * 0.9f;
            s.Key.DrawCircle(x, y, s.R(1.5, 3.5), s.Fill(s.Rng.Chance(0.6) ? dark : Palette.Mix(reflect, SKColors.White, 0.3)));
        }
    }

    private static readonly SKColor[] BootColors =
        [new(240, 200, 30), new(210, 45, 40), new(50, 150, 70), new(60, 110, 220), new(240, 120, 170), new(240, 130, 30)];

    private static void Splash(SceneCanvas s)
    {
        float hz = Outdoor(s, 0.38, 0.5);
        double i = s.Intensity;
        float size = (float)(0.3 + 0.7 * i);
        float cx = s.R(0.3, 0.7) * W, cy = hz + (H - hz) * s.R(0.5, 0.75);
        var white = Palette.Mix(s.Pal.Shade(new SKColor(235, 246, 255)), new SKColor(235, 246, 255), 0.35);
        var water = Palette.Mix(white, s.Pal.Shade(Backdrop.Water), 0.35);
        int ripples = 1 + (int)Math.Round(3 * i);
        for (int k = 0; k < ripples; k++)
        {
            float rx = (14 + 40 * size) * (k + 1) / ripples;
            s.Key.DrawOval(cx, cy, rx, rx * 0.26f, s.Stroke(water.WithAlpha(210), 2));
        }
        float r = 6 + 16 * size, hh = 12 + 48 * size;
        int spikes = s.Rng.Range(7, 10);
        for (int layer = 0; layer < 2; layer++)
        {
            float lift = layer == 0 ? 4 : 0, spread = layer == 0 ? 0.8f : 1;
            using var p = new SKPath();
            p.MoveTo(cx - r * spread, cy - lift);
            for (int j = 0; j < spikes; j++)
            {
                float xj = cx - r * spread + 2 * r * spread * (j + 0.5f) / spikes, rel = (xj - cx) / r;
                float tipX = xj + (xj - cx) * 0.6f * s.R(0.6, 1.3), tipY = cy - lift - hh * s.R(0.55, 1) * (1 - 0.35f * Math.Abs(rel));
                p.LineTo(tipX, tipY);
                p.LineTo(xj + r * spread / spikes, cy - lift - hh * 0.15f);
            }
            p.LineTo(cx + r * spread, cy - lift);
            p.Close();
            s.Key.DrawPath(p, s.Fill(layer == 0 ? water : white));
        }
        s.Key.DrawOval(cx, cy, r * 1.35f, r * 0.38f, s.Fill(white));
        if (s.Rng.Chance(0.5)) s.Key.DrawOval(cx, cy - hh * 0.55f, 2 + 2 * size, hh * 0.55f, s.Fill(white));
        int drops = 4 + (int)Math.Round(22 * size);
        for (int k = 0; k < drops; k++)
        {
            float a = s.R(-MathF.PI * 0.85, -MathF.PI * 0.15), d = s.R(0.5, 1.25) * hh;
            s.Key.DrawCircle(cx + MathF.Cos(a) * d, cy - 0.25f * hh + MathF.Sin(a) * d * 0.7f, s.R(1.2, 2.2 + 1.8 * size), s.Fill(white));
        }
    }

    private static void Fire(SceneCanvas s)
    {
        float hz = Outdoor(s, 0.45, 0.6);
        double i = s.Intensity;
        float fx = s.R(0.3, 0.7) * W, fy = hz + (H - hz) * s.R(0.55, 0.8);
        byte glowAlpha = (byte)Math.Min(255, (80 + 100 * i) * (s.Pal.Dark ? 1.4 : 1));
        s.RadialGlow(s.Key, fx, fy - 6, 18 + 45 * (float)i, new SKColor(255, 150, 60, glowAlpha));
        var stone = s.Pal.Shade(Palette.Jitter(s.Rng, new SKColor(130, 128, 124), 15, 0.3, 0.12));
        int stones = s.Rng.Range(7, 9);
        for (int k = 0; k < stones; k++)
        {
            float a = MathF.PI * 2 * k / stones + s.R(-0.15, 0.15);
            if (MathF.Sin(a) > 0) continue;
            s.Main.DrawOval(fx + MathF.Cos(a) * 19, fy + 2 + MathF.Sin(a) * 5, s.R(4, 5.5), s.R(2.5, 3.5), s.Fill(Palette.Jitter(s.Rng, stone, 5, 0.1, 0.15)));
        }
        var log = Lit(s, Palette.Jitter(s.Rng, new SKColor(110, 70, 40), 8), 0.4);
        s.Main.DrawLine(fx - 15, fy + 3, fx + 12, fy - 3, s.Stroke(log, 5));
        s.Main.DrawLine(fx - 12, fy - 3, fx + 15, fy + 3, s.Stroke(Palette.Mix(log, SKColors.Black, 0.2), 5));
        float fh = 16 + 58 * (float)i, fw = 10 + 20 * (float)i;
        s.Flames(s.Key, fx, fy, fh, fw);
        int sparks = 3 + (int)Math.Round(16 * i);
        for (int k = 0; k < sparks; k++)
            s.Key.DrawCircle(fx + s.R(-1, 1) * fw, fy - fh * s.R(0.7, 1.5), s.R(1, 1.8), s.Fill(new SKColor(255, 220, 120)));
    }

    private static void Rain(SceneCanvas s)
    {
        float hz = Outdoor(s, 0.5, 0.65);
        double i = s.Intensity;
        if (s.Setting.Ground != GroundKind.Water)
        {
            int puddles = s.Rng.Range(2, 4);
            var reflect = Palette.Mix(s.Pal.SkyHorizon, SKColors.Black, 0.15);
            for (int k = 0; k < puddles; k++)
            {
                float y = s.R(hz + 8, H - 6), rx = 5 + 14 * (y - hz) / (H - hz);
                s.Main.DrawOval(s.R(0, W), y, rx * s.R(1, 1.8), rx * 0.28f, s.Fill(reflect));
            }
        }
        var color = s.Pal.Dark ? new SKColor(170, 186, 220, 190) : new SKColor(236, 242, 252, 215);
        float angle = s.R(-0.35, 0.35), len = 8 + 10 * (float)i, width = 1.4f + 1.0f * (float)i;
        float dx = MathF.Sin(angle) * len, dy = MathF.Cos(angle) * len;
        int streaks = 40 + (int)Math.Round(420 * i);
        var paint = s.Stroke(color, width);
        for (int k = 0; k < streaks; k++)
        {
            float x = s.R(-12, W + 12), y = s.R(-12, H);
            s.Key.DrawLine(x, y, x + dx, y + dy, paint);
        }
        int splashes = 5 + (int)Math.Round(30 * i);
        for (int k = 0; k < splashes; k++)
        {
            float y = s.R(hz + 4, H), x = s.R(0, W), sz = 1.5f + 3 * (y - hz) / (H - hz);
            s.Key.DrawLine(x, y, x - sz, y - sz * 1.2f, paint);
            s.Key.DrawLine(x, y, x + sz, y - sz * 1.2f, paint);
        }
    }

    private static void Underwater(SceneCanvas s)
    {
        double i = s.Intensity;
        (SKColor top, SKColor bottom) = s.Pal.Time switch
        {
            TimeOfDay.Day => (Palette.Hsv(s.Rng.Uniform(185, 200), 65, 88), Palette.Hsv(s.Rng.Uniform(200, 215), 90, 45)),
            TimeOfDay.Dusk => (Palette.Hsv(s.Rng.Uniform(165, 185), 55, 62), Palette.Hsv(s.Rng.Uniform(190, 205), 85, 28)),
            _ => (Palette.Hsv(s.Rng.Uniform(205, 220), 70, 38), Palette.Hsv(s.Rng.Uniform(220, 235), 90, 12)),
        };
        var c = s.Main;
        s.VerticalGradient(c, 0, H, top, bottom);
        float surf = s.R(4, 9);
        var surfColor = Palette.Mix(top, SKColors.White, 0.45);
        s.Ridge(c, surf, 2, -2, s.Fill(surfColor), 4);
        if (s.Pal.Time != TimeOfDay.Night)
        {
            int rays = s.Rng.Range(3, 5);
            for (int k = 0; k < rays; k++)
            {
                float x = s.R(0, W), w = s.R(5, 12), slant = s.R(-25, 25);
                s.Polygon(c, [new(x - w / 2, 0), new(x + w / 2, 0), new(x + slant + w, H * 0.8f), new(x + slant - w, H * 0.8f)], s.Fill(SKColors.White.WithAlpha(30)));
            }
        }
        float bed = s.R(0.78, 0.88) * H;
        s.Ridge(c, bed - s.R(10, 20), s.R(3, 7), H, s.Fill(Palette.Mix(top, bottom, 0.75)), 1.2);
        var sand = Palette.Mix(Backdrop.Sand, bottom, s.Pal.Time == TimeOfDay.Day ? 0.3 : 0.6);
        s.Ridge(c, bed, s.R(2, 5), H, s.Fill(sand), 1.0);
        float vent = s.R(0.2, 0.8) * W;
        switch (s.Setting.Id)
        {
            case "reef":
                {
                    int corals = s.Rng.Range(3, 5);
                    for (int k = 0; k < corals; k++)
                    {
                        float x = s.R(0.05, 0.95) * W, h = s.R(14, 28);
                        var col = Palette.Mix(Palette.Hsv(s.Rng.Pick(new double[] { 340, 15, 280, 45 }) + s.Rng.Uniform(-10, 10), 65, 90), bottom, 0.3);
                        if (s.Rng.Chance(0.35)) { c.DrawCircle(x, bed, h * 0.45f, s.Fill(col)); continue; }
                        c.DrawLine(x, bed + 3, x, bed - h, s.Stroke(col, 4));
                        for (int b = 0; b < 3; b++)
                        {
                            float by = bed - h * s.R(0.3, 0.8), side = b % 2 == 0 ? -1 : 1;
                            c.DrawLine(x, by, x + side * s.R(5, 10), by - s.R(5, 10), s.Stroke(col, 3.5f));
                        }
                    }
                    break;
                }
            case "kelp":
                {
                    int stalks = s.Rng.Range(4, 7);
                    var kelp = Palette.Mix(Palette.Hsv(s.Rng.Uniform(70, 110), 65, 60), bottom, 0.3);
                    for (int k = 0; k < stalks; k++)
                    {
                        float x = s.R(0, W), topY = s.R(0.15, 0.5) * H, ph = s.R(0, 6), amp = s.R(3, 6);
                        using var p = new SKPath();
                        p.MoveTo(x, H);
                        for (float y = H; y > topY; y -= 4) p.LineTo(x + amp * MathF.Sin(y * 0.09f + ph), y);
                        var col = Palette.Jitter(s.Rng, kelp, 8, 0.1, 0.15);
                        c.DrawPath(p, s.Stroke(col, s.R(3.5, 5)));
                        for (float y = H - 10; y > topY; y -= s.R(10, 16))
                        {
                            float lx = x + amp * MathF.Sin(y * 0.09f + ph);
                            c.DrawOval(lx + 4, y, 5, 2, s.Fill(col));
                        }
                    }
                    break;
                }
            case "rocks":
                {
                    int rocks = s.Rng.Range(2, 4);
                    var rock = Palette.Mix(new SKColor(110, 110, 120), bottom, 0.45);
                    for (int k = 0; k < rocks; k++)
                    {
                        float x = s.R(0, W), r = s.R(10, 20);
                        c.DrawOval(x, bed, r * 1.3f, r, s.Fill(Palette.Jitter(s.Rng, rock, 5, 0.1, 0.15)));
                        c.DrawOval(x - r * 0.3f, bed - r * 0.5f, r * 0.5f, r * 0.25f, s.Fill(Palette.Mix(rock, SKColors.White, 0.15)));
                    }
                    break;
                }
            default:
                {
                    int stars = s.Rng.Range(1, 3);
                    for (int k = 0; k < stars; k++) Star(s, c, s.R(10, W - 10), s.R(bed + 4, H - 6), s.R(4, 7), Palette.Mix(new SKColor(240, 120, 60), bottom, 0.3));
                    c.DrawOval(vent, bed + 1, 7, 3, s.Fill(Palette.Mix(sand, SKColors.Black, 0.3)));
                    break;
                }
        }
        int fish = s.Rng.Range(0, 3);
        for (int k = 0; k < fish; k++)
        {
            float x = s.R(10, W - 10), y = s.R(20, bed - 15), len = s.R(7, 11), d = s.Rng.Chance(0.5) ? 1 : -1;
            var col = Palette.Mix(Palette.Hsv(s.Rng.Pick(new double[] { 30, 50, 200, 0 }), 70, 95), bottom, 0.35);
            c.DrawOval(x, y, len, len * 0.45f, s.Fill(col));
            s.Polygon(c, [new(x - d * len * 0.8f, y), new(x - d * len * 1.5f, y - len * 0.5f), new(x - d * len * 1.5f, y + len * 0.5f)], s.Fill(col));
        }
        int bubbles = 4 + (int)Math.Round(56 * i);
        int columns = s.Rng.Range(1, 3);
        var cols = new float[columns];
        cols[0] = vent;
        for (int k = 1; k < columns; k++) cols[k] = s.R(0.1, 0.9) * W;
        var rim = new SKColor(235, 250, 255, 235);
        for (int k = 0; k < bubbles; k++)
        {
            float colX = cols[k % columns], y = s.R(surf + 4, bed);
            float x = colX + MathF.Sin(y * 0.12f + k) * s.R(2, 7) + s.R(-4, 4) * (1 + (bed - y) / H * 2), r = s.R(1.6, 3.2 + 3.2 * (float)i);
            s.Key.DrawCircle(x, y, r, s.Fill(new SKColor(210, 240, 255, 70)));
            s.Key.DrawCircle(x, y, r, s.Stroke(rim, 1.3f));
            s.Key.DrawCircle(x - r * 0.35f, y - r * 0.35f, Math.Max(0.6f, r * 0.28f), s.Fill(SKColors.White));
        }
    }

    private static void Star(SceneCanvas s, SKCanvas c, float x, float y, float r, SKColor color)
    {
        Span<SKPoint> pts = stackalloc SKPoint[10];
        float rot = s.R(0, 1);
        for (int k = 0; k < 10; k++)
        {
            float a = rot + MathF.PI * k / 5, rr = k % 2 == 0 ? r : r * 0.45f;
            pts[k] = new SKPoint(x + MathF.Cos(a) * rr, y + MathF.Sin(a) * rr * 0.6f);
        }
        s.Polygon(c, pts, s.Fill(color));
    }

    private static void Thunder(SceneCanvas s)
    {
        float hz = Outdoor(s, 0.55, 0.7);
        double i = s.Intensity;
        var deck = Palette.Mix(s.Pal.SkyTop, SKColors.Black, 0.35);
        for (int k = 0; k < 5; k++) s.Cloud(s.Main, s.R(-10, W + 10), s.R(2, 14), s.R(45, 75), Palette.Jitter(s.Rng, deck, 5, 0.1, 0.1), Palette.Mix(deck, SKColors.Black, 0.4));
        int bolts = 1 + (int)Math.Round(3 * i);
        var boltPts = new List<List<SKPoint>>();
        for (int b = 0; b < bolts; b++)
        {
            float x = s.R(15, W - 15), y = s.R(14, 26), drift = s.R(-0.4, 0.4), end = hz + s.R(-2, 8);
            var main = new List<SKPoint> { new(x, y) };
            while (y < end)
            {
                y += s.R(5, 10);
                x += s.R(-8, 8) + drift * 6;
                main.Add(new SKPoint(x, Math.Min(y, end)));
            }
            boltPts.Add(main);
            int branches = s.Rng.Range(1, 2);
            for (int k = 0; k < branches; k++)
            {
                var at = main[s.Rng.Range(1, Math.Max(1, main.Count / 2))];
                float bx = at.X, by = at.Y, side = s.Rng.Chance(0.5) ? 1 : -1;
                var br = new List<SKPoint> { at };
                int segs = s.Rng.Range(2, 4);
                for (int q = 0; q < segs; q++) { bx += side * s.R(3, 8); by += s.R(4, 8); br.Add(new SKPoint(bx, by)); }
                boltPts.Add(br);
            }
        }
        var top = boltPts[0][0];
        s.RadialGlow(s.Key, top.X, top.Y + 10, 35 + 45 * (float)i, new SKColor(205, 195, 255, (byte)(60 + 100 * i)));
        foreach (var pts in boltPts)
        {
            using var p = new SKPath();
            p.MoveTo(pts[0]);
            for (int k = 1; k < pts.Count; k++) p.LineTo(pts[k]);
            bool main = pts.Count > 5;
            s.Key.DrawPath(p, s.Stroke(new SKColor(190, 170, 255, 110), (main ? 6 : 4) + 3 * (float)i));
            s.Key.DrawPath(p, s.Stroke(new SKColor(252, 250, 255), (main ? 2.2f : 1.4f) + 1.5f * (float)i));
        }
    }

    private static void Waterfall(SceneCanvas s)
    {
        double i = s.Intensity;
        float lip = s.R(0.2, 0.34) * H, pool = s.R(0.72, 0.82) * H;
        Backdrop.Sky(s, lip + 6);
        Backdrop.Far(s, s.Setting.Far, lip + 6);
        float xc = s.R(0.4, 0.6) * W, w = 10 + 46 * (float)i, gap = w + s.R(4, 10);
        var rockBase = s.Setting.Id switch
        {
            "canyon" => new SKColor(176, 92, 60),
            "jungle" => new SKColor(92, 110, 84),
            _ => new SKColor(120, 118, 116),
        };
        var rock = s.Pal.Shade(Palette.Jitter(s.Rng, rockBase, 8, 0.15, 0.12));
        var back = Palette.Mix(rock, SKColors.Black, 0.45);
        s.Main.DrawRect(xc - gap / 2 - 2, lip, gap + 4, pool - lip + 2, s.Fill(back));
        float lTop = lip - s.R(0, 14), rTop = lip - s.R(0, 14);
        s.Polygon(s.Main, [new(-2, lTop), new(xc - gap * 0.2f, lip - 2), new(xc - gap / 2, lip + 3), new(xc - gap / 2 - s.R(0, 5), pool * 0.6f + lip * 0.4f), new(xc - gap / 2 - s.R(2, 8), pool + 2), new(-2, pool + 4)], s.Fill(rock));
        s.Polygon(s.Main, [new(W + 2, rTop), new(xc + gap * 0.2f, lip - 2), new(xc + gap / 2, lip + 3), new(xc + gap / 2 + s.R(0, 5), pool * 0.6f + lip * 0.4f), new(xc + gap / 2 + s.R(2, 8), pool + 2), new(W + 2, pool + 4)], s.Fill(Palette.Mix(rock, SKColors.Black, 0.12)));
        var strata = Palette.Mix(rock, SKColors.Black, 0.3);
        for (int k = 0; k < 7; k++)
        {
            float y = s.R(lip + 6, pool - 4), left = s.Rng.Chance(0.5) ? 1 : 0, x0 = left > 0 ? s.R(0, xc - gap / 2 - 16) : s.R(xc + gap / 2 + 4, W - 12);
            s.Main.DrawLine(x0, y, x0 + s.R(8, 16), y + s.R(-1, 1), s.Stroke(strata, 1.5f));
        }
        var green = s.Pal.Shade(Palette.Jitter(s.Rng, new SKColor(46, 110, 56), 12, 0.15, 0.15));
        var trunk = s.Pal.Shade(new SKColor(80, 56, 40));
        switch (s.Setting.Id)
        {
            case "forest":
                for (int k = 0; k < 6; k++)
                {
                    float x = s.Rng.Chance(0.5) ? s.R(2, xc - gap / 2 - 6) : s.R(xc + gap / 2 + 6, W - 2);
                    s.Pine(s.Main, x, (x < xc ? lTop : rTop) + (lip - (x < xc ? lTop : rTop)) * Math.Abs(x - (x < xc ? 0 : W)) / (W / 2) + 4, s.R(14, 24), Palette.Jitter(s.Rng, green, 5, 0.1, 0.12), trunk);
                }
                break;
            case "jungle":
                for (int k = 0; k < 10; k++)
                {
                    float x = s.Rng.Chance(0.5) ? s.R(0, xc - gap / 2 - 2) : s.R(xc + gap / 2 + 2, W);
                    s.Main.DrawCircle(x, lip - s.R(-2, 8), s.R(5, 10), s.Fill(Palette.Jitter(s.Rng, green, 10, 0.15, 0.2)));
                }
                for (int k = 0; k < 4; k++)
                {
                    float x = s.Rng.Chance(0.5) ? s.R(4, xc - gap / 2 - 4) : s.R(xc + gap / 2 + 4, W - 4);
                    s.Main.DrawLine(x, lip, x + s.R(-2, 2), lip + s.R(15, 35), s.Stroke(green, 2));
                }
                break;
            case "cliffs":
                for (int k = 0; k < 4; k++)
                {
                    float x = s.Rng.Chance(0.5) ? s.R(0, xc - gap / 2 - 4) : s.R(xc + gap / 2 + 4, W);
                    s.Main.DrawOval(x, lip + s.R(0, 30), s.R(3, 6), s.R(2, 4), s.Fill(green));
                }
                break;
        }
        var poolColor = s.Pal.Shade(Palette.Jitter(s.Rng, new SKColor(50, 130, 160), 12));
        s.VerticalGradient(s.Main, pool, H, Palette.Mix(poolColor, SKColors.White, 0.15), Palette.Mix(poolColor, SKColors.Black, 0.25));
        for (int k = 0; k < 8; k++)
        {
            float y = s.R(pool + 4, H), x = s.R(-5, W);
            s.Main.DrawLine(x, y, x + s.R(8, 20), y, s.Stroke(Palette.Mix(poolColor, SKColors.White, 0.3), 1.2f));
        }
        var foam = Palette.Mix(s.Pal.Shade(new SKColor(240, 248, 255)), new SKColor(240, 248, 255), 0.35);
        var fall = Palette.Mix(foam, poolColor, 0.25);
        s.Key.DrawRect(xc - w / 2, lip - 1, w, pool - lip + 2, s.Shader(SKShader.CreateLinearGradient(new SKPoint(0, lip), new SKPoint(0, pool), [fall, foam], SKShaderTileMode.Clamp)));
        s.Key.DrawOval(xc, lip, w / 2 + 1, 2.5f, s.Fill(foam));
        int lines = Math.Max(2, (int)(w / 3));
        for (int k = 0; k < lines; k++)
        {
            float x = xc - w / 2 + s.R(1, w - 1), y0 = s.R(lip, (lip + pool) / 2);
            s.Key.DrawLine(x, y0, x, y0 + s.R(12, 40), s.Stroke(k % 2 == 0 ? Palette.Mix(fall, poolColor, 0.45) : foam, 1.4f));
        }
        s.RadialGlow(s.Key, xc, pool, w * 0.9f + 6, foam.WithAlpha(120));
        int blobs = 5 + (int)Math.Round(8 * i);
        for (int k = 0; k < blobs; k++)
            s.Key.DrawOval(xc + s.R(-0.75, 0.75) * w, pool + s.R(-2, 5), s.R(3, 4 + 5 * (float)i), s.R(2, 3.5), s.Fill(foam));
    }

    private static void Explosion(SceneCanvas s)
    {
        float hz = Outdoor(s, 0.55, 0.7);
        double i = s.Intensity;
        float r = 10 + 38 * (float)i, ex = s.R(0.3, 0.7) * W, ey = hz + (H - hz) * s.R(0.2, 0.5), cy = ey - r * 0.6f;
        s.RadialGlow(s.Key, ex, cy, r * 2.2f, new SKColor(255, 160, 60, 110));
        s.Key.DrawOval(ex, ey, r * 1.2f, r * 0.25f, s.Fill(new SKColor(40, 30, 25, 170)));
        var smoke = s.Pal.Dark ? new SKColor(44, 40, 40) : s.Pal.Shade(new SKColor(70, 66, 64));
        int puffs = s.Rng.Range(6, 9);
        for (int k = 0; k < puffs; k++)
            s.Key.DrawCircle(ex + s.R(-0.55, 0.55) * r, cy - r * s.R(0.4, 1.4), r * s.R(0.35, 0.6), s.Fill(Palette.Jitter(s.Rng, smoke, 5, 0.1, 0.2)));
        int points = s.Rng.Range(12, 16);
        var star = new SKPoint[points * 2];
        float rot = s.R(0, 1);
        for (int k = 0; k < points * 2; k++)
        {
            float a = rot + MathF.PI * k / points, rr = k % 2 == 0 ? r * s.R(1.15, 1.55) : r * 0.75f;
            star[k] = new SKPoint(ex + MathF.Cos(a) * rr, cy + MathF.Sin(a) * rr);
        }
        s.Polygon(s.Key, star, s.Fill(new SKColor(240, 96, 30)));
        s.Key.DrawCircle(ex, cy, r, s.Fill(new SKColor(236, 80, 25)));
        int bumps = s.Rng.Range(6, 8);
        for (int k = 0; k < bumps; k++)
        {
            float a = MathF.PI * 2 * k / bumps + s.R(-0.2, 0.2);
            s.Key.DrawCircle(ex + MathF.Cos(a) * r * 0.72f, cy + MathF.Sin(a) * r * 0.72f, r * 0.38f, s.Fill(new SKColor(248, 140, 35)));
        }
        s.Key.DrawCircle(ex, cy, r * 0.62f, s.Fill(new SKColor(252, 170, 40)));
        s.Key.DrawCircle(ex, cy, r * 0.42f, s.Fill(new SKColor(255, 228, 100)));
        s.Key.DrawCircle(ex, cy, r * 0.2f, s.Fill(new SKColor(255, 250, 225)));
        int debris = 4 + (int)Math.Round(14 * i);
        var dark = new SKColor(40, 32, 28);
        for (int k = 0; k < debris; k++)
        {
            float a = s.R(-MathF.PI, 0.15), d = r * s.R(1.2, 1.9), x = ex + MathF.Cos(a) * d, y = cy + MathF.Sin(a) * d, q = s.R(1.5, 3);
            s.Polygon(s.Key, [new(x - q, y), new(x, y - q), new(x + q, y + q * 0.5f)], s.Fill(dark));
        }
    }
}
