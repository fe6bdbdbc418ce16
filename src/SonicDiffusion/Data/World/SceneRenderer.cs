using SkiaSharp;

namespace SonicDiffusion.Data.World;

/// <summary>Draws the 128×128 picture of a scene with SkiaSharp and measures its intensity-driven visual magnitude.</summary>
public static class SceneRenderer
{
    public const int Size = 128;

    /// <summary>Renders the scene; with <paramref name="drawKey"/> false the intensity-driven elements are left out.</summary>
    public static SKBitmap Render(WorldScene scene, bool drawKey = true)
    {
        var bmp = new SKBitmap(new SKImageInfo(Size, Size, SKColorType.Rgba8888, SKAlphaType.Opaque));
        using (var canvas = new SKCanvas(bmp))
        {
            canvas.Clear(SKColors.Black);
            if (scene.Backdrop is { } backdrop) DrawEvent(canvas, scene, backdrop, drawKey);
            else DrawLayout(canvas, scene, drawKey);
            canvas.Flush();
        }
        return bmp;
    }

    /// <summary>World 1: one layout per class.</summary>
    private static void DrawLayout(SKCanvas canvas, WorldScene scene, bool drawKey)
    {
        var rng = scene.Stream(WorldScene.ImageStream);
        bool overcast = scene.Class is WorldClass.Raining or WorldClass.Thunder;
        var palette = new Palette(scene.TimeOfDay, overcast, rng);
        using var s = new SceneCanvas(canvas, drawKey, rng, palette, scene.Intensity, scene.Setting);
        ClassScenes.Draw(scene.Class, s);
    }

    /// <summary>
    /// World 2: the backdrop from its own random stream (so it is the same for every class), then the class's event at
    /// the backdrop's anchors from the image stream. Wind also bends the backdrop's trees.
    /// </summary>
    private static void DrawEvent(SKCanvas canvas, WorldScene scene, SceneBackdrop backdrop, bool drawKey)
    {
        var backdropRng = scene.Stream(WorldScene.BackdropStream);
        var palette = new Palette(scene.TimeOfDay, backdrop.Overcast, backdropRng);
        float bend = scene.Class == WorldClass.WindNoise ? (float)(0.15 + 0.85 * scene.Intensity) : 0;
        using var back = new SceneCanvas(canvas, drawKey, backdropRng, palette, scene.Intensity, scene.Setting);
        using var layout = SharedBackdrop.Draw(back, backdrop, bend);
        using var ev = new SceneCanvas(canvas, drawKey, scene.Stream(WorldScene.ImageStream), palette, scene.Intensity, scene.Setting);
        EventScenes.Draw(scene.Class, ev, layout);
    }

    /// <summary>The scene as an opaque RGB PNG.</summary>
    public static byte[] RenderPng(WorldScene scene)
    {
        using var bmp = Render(scene);
        return EncodePng(bmp);
    }

    public static byte[] EncodePng(SKBitmap bitmap)
    {
        using var img = SKImage.FromBitmap(bitmap);
        using var data = img.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    /// <summary>
    /// The visual magnitude of a scene: the fraction of pixels changed (any channel by more than 24/255) by its
    /// intensity-driven elements — rain streaks, flames, splash, bubbles, bolts, fireball, waterfall, wind streaks,
    /// footprints and splatter.
    /// </summary>
    public static double VisualMagnitude(WorldScene scene)
    {
        using var full = Render(scene);
        using var bare = Render(scene, drawKey: false);
        int changed = 0;
        for (int y = 0; y < Size; y++)
            for (int x = 0; x < Size; x++)
            {
                SKColor a = full.GetPixel(x, y), b = bare.GetPixel(x, y);
                int d = Math.Max(Math.Abs(a.Red - b.Red), Math.Max(Math.Abs(a.Green - b.Green), Math.Abs(a.Blue - b.Blue)));
                if (d > 24) changed++;
            }
        return (double)changed / (Size * Size);
    }
}
