using SkiaSharp;

namespace SonicDiffusion.Data.World;

/// <summary>
/// The drawing context of one scene. Intensity-driven elements are drawn on <see cref="Key"/>, everything else on
/// <see cref="Main"/>; when the key layer is switched off, <see cref="Key"/> swallows the drawing, so the same random
/// draws produce the same scene minus its intensity-driven part (used to measure visual magnitude).
/// </summary>
internal sealed class SceneCanvas : IDisposable
{
    public const float W = SceneRenderer.Size, H = SceneRenderer.Size;

    public SKCanvas Main { get; }
    public SKCanvas Key { get; }
    public WorldRandom Rng { get; }
    public Palette Pal { get; }
    public double Intensity { get; }
    public WorldSetting Setting { get; }
    private readonly SKPaint _paint = new() { IsAntialias = true };
    private readonly SKCanvas? _sink;

    public SceneCanvas(SKCanvas main, bool drawKey, WorldRandom rng, Palette palette, double intensity, WorldSetting setting)
    {
        Main = main;
        _sink = drawKey ? null : new SKNoDrawCanvas((int)W, (int)H);
        Key = _sink ?? main;
        Rng = rng;
        Pal = palette;
        Intensity = intensity;
        Setting = setting;
    }

    public void Dispose()
    {
        _paint.Dispose();
        _sink?.Dispose();
    }

    public float R(double lo, double hi) => Rng.UniformF(lo, hi);

    public SKPaint Fill(SKColor c)
    {
        Reset();
        _paint.Style = SKPaintStyle.Fill;
        _paint.Color = c;
        return _paint;
    }

    public SKPaint Stroke(SKColor c, float width, SKStrokeCap cap = SKStrokeCap.Round)
    {
        Reset();
        _paint.Style = SKPaintStyle.Stroke;
        _paint.Color = c;
        _paint.StrokeWidth = width;
        _paint.StrokeCap = cap;
        _paint.StrokeJoin = SKStrokeJoin.Round;
        return _paint;
    }

    /// <summary>A fill paint with a soft (Gaussian) edge, for glows and mist.</summary>
    public SKPaint Glow(SKColor c, float sigma)
    {
        var p = Fill(c);
        p.MaskFilter = SKMaskFilter.CreateBlur(SKBlurStyle.Normal, sigma);
        return p;
    }

    public SKPaint Shader(SKShader shader)
    {
        Reset();
        _paint.Style = SKPaintStyle.Fill;
        _paint.Color = SKColors.White;
        _paint.Shader = shader;
        return _paint;
    }

    private void Reset()
    {
        _paint.Shader?.Dispose();
        _paint.Shader = null;
        _paint.MaskFilter?.Dispose();
        _paint.MaskFilter = null;
        _paint.StrokeWidth = 0;
    }

    public void VerticalGradient(SKCanvas c, float y0, float y1, SKColor top, SKColor bottom) =>
        c.DrawRect(0, y0, W, y1 - y0, Shader(SKShader.CreateLinearGradient(new SKPoint(0, y0), new SKPoint(0, y1), [top, bottom], SKShaderTileMode.Clamp)));

    public void RadialGlow(SKCanvas c, float x, float y, float radius, SKColor inner)
    {
        var shader = SKShader.CreateRadialGradient(new SKPoint(x, y), Math.Max(1, radius), [inner, inner.WithAlpha(0)], SKShaderTileMode.Clamp);
        c.DrawCircle(x, y, radius, Shader(shader));
    }

    /// <summary>A puffy cloud: overlapping circles on a flat base.</summary>
    public void Cloud(SKCanvas c, float cx, float cy, float w, SKColor color, SKColor? shadow = null)
    {
        int puffs = Rng.Range(3, 5);
        var circles = new (float X, float Y, float R)[puffs];
        for (int k = 0; k < puffs; k++)
        {
            float t = puffs == 1 ? 0.5f : (float)k / (puffs - 1);
            float r = w * R(0.18, 0.3) * (1.2f - Math.Abs(t - 0.5f));
            circles[k] = (cx - w / 2 + w * t, cy - r * R(0.3, 0.7), r);
        }
        if (shadow is { } s)
        {
            foreach (var (x, y, r) in circles) c.DrawCircle(x, y + 2.5f, r, Fill(s));
            c.DrawOval(cx, cy + 2.5f, w * 0.6f, w * 0.12f, Fill(s));
        }
        foreach (var (x, y, r) in circles) c.DrawCircle(x, y, r, Fill(color));
        c.DrawOval(cx, cy, w * 0.6f, w * 0.12f, Fill(color));
    }

    /// <summary>A pine tree: a trunk and two stacked triangles.</summary>
    public void Pine(SKCanvas c, float x, float baseY, float h, SKColor color, SKColor trunk)
    {
        c.DrawRect(x - h * 0.06f, baseY - h * 0.25f, h * 0.12f, h * 0.25f, Fill(trunk));
        using var path = new SKPath();
        float w = h * 0.42f;
        path.MoveTo(x - w, baseY - h * 0.18f); path.LineTo(x, baseY - h * 0.75f); path.LineTo(x + w, baseY - h * 0.18f); path.Close();
        path.MoveTo(x - w * 0.75f, baseY - h * 0.5f); path.LineTo(x, baseY - h); path.LineTo(x + w * 0.75f, baseY - h * 0.5f); path.Close();
        c.DrawPath(path, Fill(color));
    }

    /// <summary>A campfire's flames: three nested layers of 3–5 tongues (red, orange, yellow) <paramref name="fh"/> high, <paramref name="fw"/> wide.</summary>
    public void Flames(SKCanvas c, float fx, float fy, float fh, float fw)
    {
        int tongues = Rng.Range(3, 5);
        var tipH = new float[tongues];
        var tipDx = new float[tongues];
        for (int j = 0; j < tongues; j++) { tipH[j] = R(0.55, 1); tipDx[j] = R(-0.25, 0.25); }
        SKColor[] colors = [Palette.Jitter(Rng, new SKColor(230, 60, 25), 6, 0.05, 0.05), new(250, 150, 35), new(255, 230, 100)];
        float[] scales = [1, 0.7f, 0.42f];
        for (int layer = 0; layer < 3; layer++)
        {
            float sc = scales[layer], tw = fw * sc * 0.38f;
            using var p = new SKPath();
            for (int j = 0; j < tongues; j++)
            {
                float rel = tongues == 1 ? 0 : (float)j / (tongues - 1) - 0.5f;
                float bx = fx + fw * rel * 0.8f * sc, th = fh * sc * tipH[j] * (1 - 0.45f * Math.Abs(rel) * 2);
                float tx = bx + tipDx[j] * fw, ty = fy - th;
                p.MoveTo(bx - tw, fy);
                p.CubicTo(bx - tw * 1.2f, fy - th * 0.5f, tx, ty + th * 0.35f, tx, ty);
                p.CubicTo(tx, ty + th * 0.35f, bx + tw * 1.2f, fy - th * 0.5f, bx + tw, fy);
                p.Close();
            }
            p.AddOval(new SKRect(fx - fw * sc * 0.7f, fy - 5 * sc - 3, fx + fw * sc * 0.7f, fy + 2));
            c.DrawPath(p, Fill(colors[layer]));
        }
    }

    /// <summary>A closed polygon through the points.</summary>
    public void Polygon(SKCanvas c, ReadOnlySpan<SKPoint> pts, SKPaint paint)
    {
        using var path = new SKPath();
        path.MoveTo(pts[0]);
        for (int k = 1; k < pts.Length; k++) path.LineTo(pts[k]);
        path.Close();
        c.DrawPath(path, paint);
    }

    /// <summary>A filled band whose top edge is a smooth random curve around <paramref name="y"/>, down to <paramref name="bottom"/>.</summary>
    public void Ridge(SKCanvas c, float y, float amplitude, float bottom, SKPaint paint, double waves = 1.5)
    {
        double p1 = Rng.Uniform(0, 2 * Math.PI), p2 = Rng.Uniform(0, 2 * Math.PI), f2 = Rng.Uniform(2.2, 3.5);
        using var path = new SKPath();
        path.MoveTo(0, bottom);
        for (int x = 0; x <= (int)W; x += 4)
        {
            double u = x / W * Math.PI * 2;
            path.LineTo(x, y - amplitude * (float)(0.65 * Math.Sin(waves * u + p1) + 0.35 * Math.Sin(f2 * u + p2)));
        }
        path.LineTo(W, bottom);
        path.Close();
        c.DrawPath(path, paint);
    }
}
