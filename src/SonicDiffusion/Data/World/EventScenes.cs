using SkiaSharp;

namespace SonicDiffusion.Data.World;

/// <summary>
/// World 2: each class is an event drawn into a shared backdrop at the backdrop's anchors (fire and explosions and
/// footprints on the ground, splash, bubbles and waterfall at the water, lightning and rain in the sky). Intensity
/// scales the event's size, brightness and coverage, never the backdrop. Everything here is drawn on the key layer.
/// </summary>
internal static class EventScenes
{
    private const float W = SceneCanvas.W, H = SceneCanvas.H;

    public static void Draw(WorldClass cls, SceneCanvas s, SceneLayout layout)
    {
        switch (cls)
        {
            case WorldClass.WindNoise: Wind(s, layout); break;
            case WorldClass.SquishingWater: Squelch(s, layout); break;
            case WorldClass.SplashingWater: Splash(s, layout); break;
            case WorldClass.FireCrackling: Fire(s, layout); break;
            case WorldClass.Raining: Rain(s, layout); break;
            case WorldClass.UnderwaterBubbling: Bubbles(s, layout); break;
            case WorldClass.Thunder: Thunder(s, layout); break;
            case WorldClass.WaterfallBurbling: Waterfall(s, layout); break;
            case WorldClass.Explosion: Explosion(s, layout); break;
            default: throw new ArgumentOutOfRangeException(nameof(cls));
        }
    }

    private static SKColor Lit(SceneCanvas s, SKColor c, double keep = 0.35) => Palette.Mix(s.Pal.Shade(c), c, keep);

    private static SKColor Foam(SceneCanvas s) => Palette.Mix(s.Pal.Shade(new SKColor(240, 248, 255)), new SKColor(240, 248, 255), 0.4);

    private static void Wind(SceneCanvas s, SceneLayout l)
    {
        float i = (float)s.Intensity;
        int dir = l.WindDirection;
        var k = s.Key;
        var blade = s.Pal.Shade(Palette.Jitter(s.Rng, new SKColor(90, 150, 60), 10, 0.15, 0.15));
        int blades = 8 + (int)Math.Round(14 * i);
        for (int b = 0; b < blades; b++)
        {
            float x = l.GroundAnchor.X + s.R(-20, 20), y = l.GroundAnchor.Y + s.R(-4, 8), h = s.R(6, 11), a = dir * (0.25f + 1.0f * i) * s.R(0.8, 1.2);
            using var p = new SKPath();
            p.MoveTo(x - 1.2f, y);
            p.QuadTo(x + MathF.Sin(a) * h * 0.3f, y - h * 0.6f, x + MathF.Sin(a) * h, y - MathF.Cos(a) * h);
            p.QuadTo(x + MathF.Sin(a) * h * 0.3f, y - h * 0.6f, x + 1.2f, y);
            p.Close();
            k.DrawPath(p, s.Fill(Palette.Jitter(s.Rng, blade, 6, 0.1, 0.15)));
        }
        int streaks = 1 + (int)Math.Round(4 * i);
        var streakColor = s.Pal.Dark ? new SKColor(200, 214, 240, 170) : new SKColor(255, 255, 255, 200);
        for (int q = 0; q < streaks; q++)
        {
            float y0 = s.R(8, l.Horizon + 30), len = s.R(28, 55), amp = s.R(2, 5), x0 = s.R(-10, W - len * 0.6f), r = s.R(2.5, 4);
            using var p = new SKPath();
            p.MoveTo(x0, y0);
            p.CubicTo(x0 + len * 0.33f, y0 - amp, x0 + len * 0.66f, y0 + amp, x0 + len, y0);
            p.ArcTo(new SKRect(x0 + len - r, y0 - 2 * r, x0 + len + r, y0), 90, -300, false);
            if (dir < 0) p.Transform(SKMatrix.CreateScale(-1, 1, W / 2, 0));
            k.DrawPath(p, s.Stroke(streakColor, s.R(1.6, 2.4)));
        }
        int leaves = 3 + (int)Math.Round(14 * i);
        for (int q = 0; q < leaves; q++)
        {
            float x = l.GroundAnchor.X + dir * s.R(-10, 60), y = l.GroundAnchor.Y - s.R(6, 40);
            k.Save();
            k.RotateDegrees(s.R(0, 180), x, y);
            k.DrawOval(x, y, s.R(2, 3), s.R(1, 1.6), s.Fill(s.Pal.Shade(Palette.Hsv(s.Rng.Uniform(20, 110), 75, 80))));
            k.Restore();
        }
    }

    private static readonly SKColor[] BootColors =
        [new(240, 200, 30), new(210, 45, 40), new(50, 150, 70), new(60, 110, 220), new(240, 120, 170), new(240, 130, 30)];

    private static void Squelch(SceneCanvas s, SceneLayout l)
    {
        float i = (float)s.Intensity;
        var k = s.Key;
        float bx = l.GroundAnchor.X, by = l.GroundAnchor.Y, sc = s.R(0.55, 0.65);
        var mud = s.Pal.Shade(Palette.Jitter(s.Rng, Backdrop.Mud, 8, 0.1, 0.1));
        var dark = Palette.Mix(mud, SKColors.Black, 0.45);
        var reflect = Palette.Mix(s.Pal.SkyHorizon, mud, 0.45);
        float pw = 13 + 7 * i;
        k.DrawOval(bx, by, pw, pw * 0.3f, s.Fill(dark));
        k.DrawOval(bx, by - 0.5f, pw * 0.8f, pw * 0.22f, s.Fill(reflect));
        int prints = 1 + (int)Math.Round(4 * i);
        int side = bx < W / 2 ? 1 : -1;
        var wet = Palette.Mix(reflect, SKColors.White, 0.15);
        for (int q = 0; q < prints; q++)
        {
            float t = (q + 1f) / (prints + 1f);
            float px = bx + side * (14 + 34 * t), py = by - 3 - 12 * t + (q % 2 == 0 ? -2 : 2), ps = 0.9f - 0.3f * t;
            k.Save();
            k.Translate(px, py);
            k.Scale(1, 0.5f);
            k.RotateDegrees(side * 70);
            k.DrawOval(0, 2 * ps, 3.2f * ps, 4.8f * ps, s.Fill(dark));
            k.DrawOval(0, -5 * ps, 2.6f * ps, 2.9f * ps, s.Fill(dark));
            k.DrawOval(0, 2 * ps, 2.1f * ps, 3.5f * ps, s.Fill(wet));
            k.Restore();
        }
        var bootColor = Lit(s, Palette.Jitter(s.Rng, s.Rng.Pick(BootColors), 8, 0.1, 0.1), 0.45);
        int toe = s.Rng.Chance(0.5) ? 1 : -1;
        float shaftW = 15 * sc, shaftH = 30 * sc;
        using (var boot = new SKPath())
        {
            boot.AddRoundRect(new SKRect(bx - shaftW / 2, by - shaftH - 8 * sc, bx + shaftW / 2, by), 2, 2);
            float x0 = toe > 0 ? bx - shaftW / 2 : bx - shaftW / 2 - 13 * sc, x1 = toe > 0 ? bx + shaftW / 2 + 13 * sc : bx + shaftW / 2;
            boot.AddRoundRect(new SKRect(x0, by - 10 * sc, x1, by), 4 * sc, 4 * sc);
            k.DrawPath(boot, s.Fill(bootColor));
            k.DrawRect(x0 + 1, by - 3 * sc, x1 - x0 - 2, 3 * sc, s.Fill(Palette.Mix(bootColor, SKColors.Black, 0.55)));
        }
        float ring = 10 + 12 * i;
        k.DrawOval(bx, by, ring, ring * 0.28f, s.Stroke(Palette.Mix(reflect, SKColors.White, 0.4), 1.5f));
        int drops = 2 + (int)Math.Round(12 * i);
        for (int q = 0; q < drops; q++)
        {
            float a = s.R(-MathF.PI * 0.95, -MathF.PI * 0.05), d = s.R(8, 12 + 14 * i);
            k.DrawCircle(bx + MathF.Cos(a) * d * 1.2f, by - 4 + MathF.Sin(a) * d * 0.9f, s.R(1, 2.5), s.Fill(s.Rng.Chance(0.6) ? dark : wet));
        }
    }

    private static void Splash(SceneCanvas s, SceneLayout l)
    {
        float i = (float)s.Intensity, size = 0.3f + 0.7f * i;
        var k = s.Key;
        float cx = l.WaterAnchor.X, cy = l.WaterAnchor.Y;
        var white = Foam(s);
        var water = Palette.Mix(white, s.Pal.Shade(Backdrop.Water), 0.35);
        int ripples = 1 + (int)Math.Round(2 * i);
        float maxRx = Math.Min(l.WaterWidth * 0.5f, 8 + 22 * size);
        for (int q = 0; q < ripples; q++)
        {
            float rx = maxRx * (q + 1) / ripples;
            k.DrawOval(cx, cy, rx, rx * 0.26f, s.Stroke(water.WithAlpha(210), 1.5f));
        }
        float r = 4 + 9 * size, hh = 8 + 28 * size;
        int spikes = s.Rng.Range(6, 9);
        for (int layer = 0; layer < 2; layer++)
        {
            float lift = layer == 0 ? 3 : 0, spread = layer == 0 ? 0.8f : 1;
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
            k.DrawPath(p, s.Fill(layer == 0 ? water : white));
        }
        k.DrawOval(cx, cy, r * 1.35f, r * 0.38f, s.Fill(white));
        int drops = 3 + (int)Math.Round(14 * size);
        for (int q = 0; q < drops; q++)
        {
            float a = s.R(-MathF.PI * 0.85, -MathF.PI * 0.15), d = s.R(0.5, 1.2) * hh;
            k.DrawCircle(cx + MathF.Cos(a) * d, cy - 0.25f * hh + MathF.Sin(a) * d * 0.7f, s.R(0.9, 1.6 + 1.2 * size), s.Fill(white));
        }
    }

    private static void Fire(SceneCanvas s, SceneLayout l)
    {
        float i = (float)s.Intensity;
        var k = s.Key;
        float fx = l.GroundAnchor.X, fy = l.GroundAnchor.Y;
        byte glowAlpha = (byte)Math.Min(255, (70 + 90 * i) * (s.Pal.Dark ? 1.4 : 1));
        s.RadialGlow(k, fx, fy - 5, 12 + 26 * i, new SKColor(255, 150, 60, glowAlpha));
        var stone = s.Pal.Shade(Palette.Jitter(s.Rng, new SKColor(130, 128, 124), 15, 0.3, 0.12));
        int stones = s.Rng.Range(7, 9);
        for (int q = 0; q < stones; q++)
        {
            float a = MathF.PI * 2 * q / stones + s.R(-0.15, 0.15);
            if (MathF.Sin(a) > 0) continue;
            k.DrawOval(fx + MathF.Cos(a) * 12, fy + 1.5f + MathF.Sin(a) * 3.5f, s.R(2.5, 3.5), s.R(1.6, 2.2), s.Fill(Palette.Jitter(s.Rng, stone, 5, 0.1, 0.15)));
        }
        var log = Lit(s, Palette.Jitter(s.Rng, new SKColor(110, 70, 40), 8), 0.4);
        k.DrawLine(fx - 10, fy + 2, fx + 8, fy - 2, s.Stroke(log, 3.5f));
        k.DrawLine(fx - 8, fy - 2, fx + 10, fy + 2, s.Stroke(Palette.Mix(log, SKColors.Black, 0.2), 3.5f));
        float fh = 10 + 34 * i, fw = 7 + 12 * i;
        s.Flames(k, fx, fy, fh, fw);
        int sparks = (int)Math.Round(10 * i);
        for (int q = 0; q < sparks; q++)
            k.DrawCircle(fx + s.R(-0.8, 0.8) * fw, fy - fh * s.R(0.8, 1.5), s.R(0.6, 1.2), s.Fill(new SKColor(255, 220, 120)));
    }

    private static void Rain(SceneCanvas s, SceneLayout l)
    {
        float i = (float)s.Intensity;
        var k = s.Key;
        var color = s.Pal.Dark ? new SKColor(170, 186, 220, (byte)(110 + 60 * i)) : new SKColor(236, 242, 252, (byte)(120 + 60 * i));
        float angle = s.R(-0.3, 0.3), len = 5 + 5 * i;
        float dx = MathF.Sin(angle) * len, dy = MathF.Cos(angle) * len;
        int streaks = 24 + (int)Math.Round(80 * i);
        var paint = s.Stroke(color, 1f);
        for (int q = 0; q < streaks; q++)
        {
            float x = s.R(-8, W + 8), y = s.R(-8, H);
            k.DrawLine(x, y, x + dx, y + dy, paint);
        }
        var ring = Palette.Mix(Foam(s), s.Pal.Shade(Backdrop.Water), 0.3).WithAlpha(200);
        int rings = 4 + (int)Math.Round(14 * i);
        var b = l.Water.Bounds;
        k.Save();
        k.ClipPath(l.Water, SKClipOperation.Intersect, true);
        for (int q = 0; q < rings; q++)
        {
            float x = s.R(b.Left, b.Right), y = s.R(Math.Max(b.Top, l.Horizon) + 2, b.Bottom), rx = 1.5f + 4 * (y - l.Horizon) / (H - l.Horizon);
            k.DrawOval(x, y, rx, rx * 0.3f, s.Stroke(ring, 0.9f));
        }
        k.Restore();
    }

    private static void Bubbles(SceneCanvas s, SceneLayout l)
    {
        float i = (float)s.Intensity;
        var k = s.Key;
        float cx = l.WaterAnchor.X, cy = l.WaterAnchor.Y, spread = Math.Min(l.WaterWidth * 0.45f, 6 + 18 * i);
        var foam = Foam(s);
        var water = s.Pal.Shade(Backdrop.Water);
        int rings = 1 + (int)Math.Round(2 * i);
        for (int q = 0; q < rings; q++)
        {
            float rx = spread * (1.1f + 0.35f * q);
            k.DrawOval(cx, cy, rx, rx * 0.28f, s.Stroke(Palette.Mix(foam, water, 0.35).WithAlpha(200), 1.2f));
        }
        k.DrawOval(cx, cy, spread * 0.7f, spread * 0.2f, s.Fill(Palette.Mix(foam, water, 0.25).WithAlpha(200)));
        int bubbles = 6 + (int)Math.Round(40 * i);
        var rim = new SKColor(235, 250, 255, 235);
        var inside = Palette.Mix(water, SKColors.White, 0.45).WithAlpha(150);
        for (int q = 0; q < bubbles; q++)
        {
            float a = s.R(0, MathF.PI * 2), d = spread * MathF.Sqrt(s.R(0, 1));
            float x = cx + MathF.Cos(a) * d, y = cy + MathF.Sin(a) * d * 0.3f - s.R(0, 3 + 5 * i), r = s.R(0.9, 1.6 + 1.6 * i);
            k.DrawCircle(x, y, r, s.Fill(inside));
            k.DrawCircle(x, y, r, s.Stroke(rim, 0.8f));
        }
        int bursts = (int)Math.Round(6 * i);
        for (int q = 0; q < bursts; q++)
            k.DrawCircle(cx + s.R(-1, 1) * spread, cy - s.R(3, 6 + 8 * i), s.R(0.5, 1), s.Fill(foam));
    }

    private static void Thunder(SceneCanvas s, SceneLayout l)
    {
        float i = (float)s.Intensity;
        var k = s.Key;
        float cx = s.R(0.25, 0.75) * W;
        var deck = Palette.Mix(s.Pal.SkyTop, SKColors.Black, 0.45);
        int clouds = 2 + (int)Math.Round(2 * i);
        for (int q = 0; q < clouds; q++)
        {
            var save = k.Save();
            s.Cloud(k, cx + s.R(-30, 30), s.R(5, 12), s.R(28, 40), Palette.Jitter(s.Rng, deck, 5, 0.1, 0.1), Palette.Mix(deck, SKColors.Black, 0.4));
            k.RestoreToCount(save);
        }
        int bolts = 1 + (int)Math.Round(2 * i);
        var boltPts = new List<List<SKPoint>>();
        for (int b = 0; b < bolts; b++)
        {
            float x = cx + s.R(-22, 22), y = s.R(12, 18), drift = s.R(-0.4, 0.4), end = l.Horizon + s.R(-2, 4);
            var main = new List<SKPoint> { new(x, y) };
            while (y < end)
            {
                y += s.R(4, 8);
                x += s.R(-6, 6) + drift * 5;
                main.Add(new SKPoint(x, Math.Min(y, end)));
            }
            boltPts.Add(main);
            var at = main[s.Rng.Range(1, Math.Max(1, main.Count / 2))];
            float bx = at.X, by = at.Y, side = s.Rng.Chance(0.5) ? 1 : -1;
            var br = new List<SKPoint> { at };
            int segs = s.Rng.Range(2, 3);
            for (int q = 0; q < segs; q++) { bx += side * s.R(3, 6); by += s.R(3, 6); br.Add(new SKPoint(bx, by)); }
            boltPts.Add(br);
        }
        var top = boltPts[0][0];
        s.RadialGlow(k, top.X, top.Y + 8, 20 + 24 * i, new SKColor(205, 195, 255, (byte)(50 + 90 * i)));
        foreach (var pts in boltPts)
        {
            using var p = new SKPath();
            p.MoveTo(pts[0]);
            for (int q = 1; q < pts.Count; q++) p.LineTo(pts[q]);
            bool main = pts.Count > 4;
            k.DrawPath(p, s.Stroke(new SKColor(190, 170, 255, 110), (main ? 4 : 3) + 2 * i));
            k.DrawPath(p, s.Stroke(new SKColor(252, 250, 255), (main ? 1.6f : 1.1f) + 1.0f * i));
        }
    }

    private static void Waterfall(SceneCanvas s, SceneLayout l)
    {
        float i = (float)s.Intensity;
        var k = s.Key;
        float fx = l.FallFoot.X, foot = l.FallFoot.Y;
        float fw = 4 + 12 * i, ch = 12 + 12 * i, lip = foot - ch, cw = fw + s.R(10, 16);
        var rock = s.Pal.Shade(Palette.Jitter(s.Rng, new SKColor(120, 116, 112), 10, 0.15, 0.12));
        s.Polygon(k, [new(fx - cw / 2 - 4, foot + 1), new(fx - cw / 2, lip + 2), new(fx - fw / 2, lip - 1), new(fx + fw / 2, lip - 1),
            new(fx + cw / 2, lip + 3), new(fx + cw / 2 + 4, foot + 1)], s.Fill(rock));
        var foam = Foam(s);
        var pool = s.Pal.Shade(Backdrop.Water);
        var fall = Palette.Mix(foam, pool, 0.25);
        k.DrawRect(fx - fw / 2, lip - 1, fw, foot - lip + 1, s.Shader(SKShader.CreateLinearGradient(new SKPoint(0, lip), new SKPoint(0, foot), [fall, foam], SKShaderTileMode.Clamp)));
        int lines = Math.Max(2, (int)(fw / 2.5f));
        for (int q = 0; q < lines; q++)
        {
            float x = fx - fw / 2 + s.R(0.5, fw - 0.5), y0 = s.R(lip, (lip + foot) / 2);
            k.DrawLine(x, y0, x, y0 + s.R(4, 12), s.Stroke(q % 2 == 0 ? Palette.Mix(fall, pool, 0.45) : foam, 1f));
        }
        s.RadialGlow(k, fx, foot + 1, fw * 0.9f + 4, foam.WithAlpha(130));
        int blobs = 3 + (int)Math.Round(6 * i);
        for (int q = 0; q < blobs; q++)
            k.DrawOval(fx + s.R(-0.8, 0.8) * fw, foot + s.R(0, 3), s.R(1.5, 2.5 + 2.5 * i), s.R(1, 2), s.Fill(foam));
    }

    private static void Explosion(SceneCanvas s, SceneLayout l)
    {
        float i = (float)s.Intensity;
        var k = s.Key;
        float r = 6 + 17 * i, ex = l.GroundAnchor.X, ey = l.GroundAnchor.Y, cy = ey - r * 0.7f;
        s.RadialGlow(k, ex, cy, r * 2f, new SKColor(255, 160, 60, 110));
        k.DrawOval(ex, ey, r * 1.1f, r * 0.22f, s.Fill(new SKColor(40, 30, 25, 170)));
        var smoke = s.Pal.Dark ? new SKColor(44, 40, 40) : s.Pal.Shade(new SKColor(70, 66, 64));
        int puffs = s.Rng.Range(5, 7);
        for (int q = 0; q < puffs; q++)
            k.DrawCircle(ex + s.R(-0.5, 0.5) * r, cy - r * s.R(0.4, 1.2), r * s.R(0.3, 0.5), s.Fill(Palette.Jitter(s.Rng, smoke, 5, 0.1, 0.2)));
        int points = s.Rng.Range(11, 14);
        var star = new SKPoint[points * 2];
        float rot = s.R(0, 1);
        for (int q = 0; q < points * 2; q++)
        {
            float a = rot + MathF.PI * q / points, rr = q % 2 == 0 ? r * s.R(1.15, 1.5) : r * 0.75f;
            star[q] = new SKPoint(ex + MathF.Cos(a) * rr, cy + MathF.Sin(a) * rr);
        }
        s.Polygon(k, star, s.Fill(new SKColor(240, 96, 30)));
        k.DrawCircle(ex, cy, r, s.Fill(new SKColor(236, 80, 25)));
        k.DrawCircle(ex, cy, r * 0.62f, s.Fill(new SKColor(252, 170, 40)));
        k.DrawCircle(ex, cy, r * 0.42f, s.Fill(new SKColor(255, 228, 100)));
        k.DrawCircle(ex, cy, r * 0.2f, s.Fill(new SKColor(255, 250, 225)));
        int debris = 3 + (int)Math.Round(10 * i);
        var dark = new SKColor(40, 32, 28);
        for (int q = 0; q < debris; q++)
        {
            float a = s.R(-MathF.PI, 0.15), d = r * s.R(1.2, 1.8), x = ex + MathF.Cos(a) * d, y = cy + MathF.Sin(a) * d, z = s.R(1, 2.2);
            s.Polygon(k, [new(x - z, y), new(x, y - z), new(x + z, y + z * 0.5f)], s.Fill(dark));
        }
    }
}
