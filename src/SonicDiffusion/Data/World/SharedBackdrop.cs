using SkiaSharp;

namespace SonicDiffusion.Data.World;

/// <summary>
/// Draws a world-2 backdrop: sky, far layer, ground, a body of water and a few trees, all from the backdrop's own random
/// stream, so the same backdrop comes out the same whatever event is drawn into it. Only the trees' bend depends on the
/// scene's wind (<paramref name="treeBend"/>), since bent vegetation is how wind shows.
/// </summary>
internal static class SharedBackdrop
{
    private const float W = SceneCanvas.W, H = SceneCanvas.H;

    public static SceneLayout Draw(SceneCanvas s, SceneBackdrop b, float treeBend)
    {
        float hz = s.R(0.40, 0.50) * H;
        Backdrop.Sky(s, hz);
        Backdrop.Far(s, b.Far, hz);
        Backdrop.Ground(s, b.Ground, hz + 1);
        int windDir = s.Rng.Chance(0.5) ? 1 : -1;
        var water = new SKPath();
        float waterTop, waterWidth;
        SKPoint waterAnchor, groundAnchor, fallFoot;
        switch (b.Water)
        {
            case WaterKind.Sea:
            {
                float shore = s.R(0.62, 0.70) * H;
                water.AddRect(new SKRect(-2, hz, W + 2, shore));
                waterTop = hz;
                waterAnchor = new SKPoint(s.R(0.25, 0.75) * W, hz + (shore - hz) * s.R(0.55, 0.75));
                waterWidth = W * 0.5f;
                groundAnchor = new SKPoint(s.R(0.25, 0.75) * W, shore + (H - shore) * s.R(0.55, 0.75));
                fallFoot = new SKPoint(s.R(0.15, 0.85) * W, hz + 1);
                break;
            }
            case WaterKind.Lake:
            {
                float top = hz + s.R(4, 9), shore = s.R(0.62, 0.70) * H, sag = s.R(4, 10);
                water.MoveTo(-2, top);
                water.LineTo(W + 2, top);
                water.LineTo(W + 2, shore - sag);
                water.QuadTo(W / 2, shore + sag, -2, shore - sag);
                water.Close();
                waterTop = top;
                waterAnchor = new SKPoint(s.R(0.25, 0.75) * W, top + (shore - top) * s.R(0.5, 0.7));
                waterWidth = W * 0.5f;
                groundAnchor = new SKPoint(s.R(0.25, 0.75) * W, shore + (H - shore) * s.R(0.55, 0.75));
                fallFoot = new SKPoint(s.R(0.15, 0.85) * W, top + 1);
                break;
            }
            case WaterKind.River:
            {
                float c0 = s.R(0.35, 0.65) * W, w0 = s.R(8, 14), c1 = c0 + (b.WaterOnLeft ? -1 : 1) * s.R(14, 30), w1 = s.R(44, 56);
                water.MoveTo(c0 - w0 / 2, hz + 1);
                water.LineTo(c0 + w0 / 2, hz + 1);
                water.CubicTo(c0 + w0, hz + (H - hz) * 0.4f, c1 + w1 / 2, H - (H - hz) * 0.4f, c1 + w1 / 2, H + 2);
                water.LineTo(c1 - w1 / 2, H + 2);
                water.CubicTo(c1 - w1 / 2, H - (H - hz) * 0.4f, c0 - w0, hz + (H - hz) * 0.4f, c0 - w0 / 2, hz + 1);
                water.Close();
                float t = s.R(0.5, 0.65), y = hz + (H - hz) * t;
                waterAnchor = new SKPoint(c0 + (c1 - c0) * t, y);
                waterWidth = w0 + (w1 - w0) * t;
                waterTop = hz + 1;
                fallFoot = new SKPoint(c0, hz + 2);
                float groundX = c1 > c0 ? s.R(0.1, 0.22) * W : s.R(0.78, 0.9) * W;
                groundAnchor = new SKPoint(groundX, s.R(0.78, 0.88) * H);
                break;
            }
            default:
            {
                float cx = b.WaterOnLeft ? s.R(0.24, 0.32) * W : s.R(0.68, 0.76) * W, cy = s.R(0.70, 0.76) * H, rx = s.R(28, 34), ry = s.R(11, 14);
                water.AddOval(new SKRect(cx - rx, cy - ry, cx + rx, cy + ry));
                waterTop = cy - ry;
                waterAnchor = new SKPoint(cx + s.R(-6, 6), cy + s.R(-2, 3));
                waterWidth = rx * 1.6f;
                fallFoot = new SKPoint(cx + s.R(-10, 10), cy - ry + 1);
                groundAnchor = new SKPoint(b.WaterOnLeft ? s.R(0.66, 0.8) * W : s.R(0.2, 0.34) * W, s.R(0.76, 0.86) * H);
                break;
            }
        }
        DrawWater(s, water, b, hz);
        var layout = new SceneLayout
        {
            Horizon = hz, Water = water, WaterTop = waterTop, WaterAnchor = waterAnchor, WaterWidth = waterWidth,
            GroundAnchor = groundAnchor, FallFoot = fallFoot, WindDirection = windDir,
        };
        Trees(s, layout, treeBend * windDir);
        return layout;
    }

    private static void DrawWater(SceneCanvas s, SKPath water, SceneBackdrop b, float hz)
    {
        var c = s.Main;
        var deep = s.Pal.Shade(Palette.Jitter(s.Rng, b.Water == WaterKind.Sea ? Backdrop.Water : new SKColor(60, 128, 160), 12));
        var far = Palette.Mix(Palette.Mix(deep, SKColors.White, 0.25), s.Pal.SkyHorizon, 0.35);
        var bounds = water.Bounds;
        c.Save();
        c.ClipPath(water, SKClipOperation.Intersect, true);
        s.VerticalGradient(c, Math.Max(hz, bounds.Top) - 1, bounds.Bottom + 1, far, Palette.Mix(deep, SKColors.Black, 0.15));
        var glint = Palette.Mix(deep, SKColors.White, 0.35).WithAlpha(170);
        for (int k = 0; k < 9; k++)
        {
            float y = bounds.Top + bounds.Height * MathF.Pow(s.R(0.05, 1), 1.2f), x = s.R(bounds.Left - 6, bounds.Right), w = 4 + 14 * (y - hz) / (H - hz);
            c.DrawLine(x, y, x + w, y, s.Stroke(glint, 1));
        }
        c.Restore();
        var bank = s.Pal.Shade(b.Ground is GroundKind.Snow ? new SKColor(220, 226, 236) : new SKColor(96, 84, 66)).WithAlpha(150);
        c.DrawPath(water, s.Stroke(bank, 1.2f));
    }

    /// <summary>Zero to three trees on the ground, clear of the water and of the ground anchor; bent by the wind.</summary>
    private static void Trees(SceneCanvas s, SceneLayout layout, float bend)
    {
        int n = s.Rng.Range(0, 3);
        var pine = s.Pal.Shade(Palette.Jitter(s.Rng, new SKColor(44, 104, 60), 12, 0.15, 0.15));
        var leafy = s.Pal.Shade(Palette.Jitter(s.Rng, new SKColor(70, 140, 60), 15, 0.2, 0.15));
        var trunk = s.Pal.Shade(new SKColor(92, 64, 42));
        for (int k = 0, tries = 0; k < n && tries < 30; tries++)
        {
            float x = s.R(6, W - 6), y = layout.Horizon + s.R(4, 22), h = s.R(16, 26) * (0.7f + 0.6f * (y - layout.Horizon) / (H - layout.Horizon));
            bool round = s.Rng.Chance(0.5);
            if (layout.Water.Contains(x, y) || layout.Water.Contains(x, y - 2) || Math.Abs(x - layout.GroundAnchor.X) < 22 || Math.Abs(x - layout.FallFoot.X) < 16
                || layout.TreeBases.Any(t => Math.Abs(t.X - x) < 14)) continue;
            layout.TreeBases.Add(new SKPoint(x, y));
            k++;
            float topX = x + bend * h * 0.45f, topY = y - h * (1 - 0.12f * Math.Abs(bend));
            using (var p = new SKPath())
            {
                p.MoveTo(x, y);
                p.QuadTo(x, y - h * 0.5f, topX, topY);
                s.Main.DrawPath(p, s.Stroke(trunk, round ? 2.5f : 2f));
            }
            if (round)
            {
                s.Main.Save();
                s.Main.RotateDegrees(bend * 25, topX, topY);
                s.Main.DrawOval(topX, topY, h * 0.32f * (1 + 0.3f * Math.Abs(bend)), h * 0.28f * (1 - 0.25f * Math.Abs(bend)), s.Fill(leafy));
                s.Main.Restore();
            }
            else
            {
                float w = h * 0.32f;
                s.Polygon(s.Main, [new(x - w, y - h * 0.2f), new(topX, topY - h * 0.05f), new(x + w, y - h * 0.2f)], s.Fill(pine));
            }
        }
    }
}
