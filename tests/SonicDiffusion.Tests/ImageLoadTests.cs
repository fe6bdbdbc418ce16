using SonicDiffusion.Core;
using SonicDiffusion.Imaging;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary><see cref="ImageTensor.Load"/> on the files of tests/fixtures/images (made by make_images.py there).</summary>
public class ImageLoadTests
{
    private static string Fixture(string name) => Path.Combine(RepoPaths.Fixtures, "images", name);

    private static float[] Pixel(Tensor img, int x, int y) => img[0, .., y, x].data<float>().ToArray();

    private static void AssertColor(Tensor img, int x, int y, float r, float g, float b, string what)
    {
        var p = Pixel(img, x, y);
        Assert.True(Math.Abs(p[0] - r) < 0.1 && Math.Abs(p[1] - g) < 0.1 && Math.Abs(p[2] - b) < 0.1,
            $"{what} at ({x},{y}): got ({p[0]:F2},{p[1]:F2},{p[2]:F2}), expected ({r},{g},{b})");
    }

    public static TheoryData<int> Orientations() => new() { 1, 2, 3, 4, 5, 6, 7, 8 };

    [Theory]
    [MemberData(nameof(Orientations))]
    public void ExifOrientationGivesTheUprightPicture(int orientation)
    {
        using var img = ImageTensor.Load(Fixture($"orient_{orientation}.jpg"));
        Assert.Equal(new long[] { 1, 3, 16, 32 }, img.shape);
        string what = $"orientation {orientation}";
        AssertColor(img, 4, 3, 1, 0, 0, what);
        AssertColor(img, 27, 3, 0, 1, 0, what);
        AssertColor(img, 4, 12, 0, 0, 1, what);
        AssertColor(img, 27, 12, 1, 1, 1, what);
    }

    [Theory]
    [InlineData("huge.png")]
    [InlineData("huge.jpg")]
    public void HugeImagesAreRefusedFromTheHeader(string name)
    {
        long before = GC.GetTotalMemory(false);
        var e = Assert.Throws<SonicException>(() => ImageTensor.Load(Fixture(name)));
        Assert.Contains("20000x20000", e.Message);
        Assert.Contains(name, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.True(GC.GetTotalMemory(false) - before < 100_000_000, "nothing image-sized was allocated");
    }

    [Theory]
    [InlineData("corrupt.png")]
    [InlineData("corrupt.jpg")]
    [InlineData("garbage.png")]
    public void CorruptFilesGiveOneClearLine(string name)
    {
        var e = Assert.Throws<SonicException>(() => ImageTensor.Load(Fixture(name)));
        Assert.Contains(name, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void OddFormatsAreConverted()
    {
        using (var a = ImageTensor.Load(Fixture("alpha.png")))
        {
            AssertColor(a, 2, 5, 1, 0, 0, "opaque half");
            AssertColor(a, 13, 5, 1, 1, 1, "transparent half over white");
        }
        using (var c = ImageTensor.Load(Fixture("cmyk.jpg"))) AssertColor(c, 8, 8, 1, 0, 0, "CMYK red");
        using (var g = ImageTensor.Load(Fixture("gray.png"))) AssertColor(g, 8, 8, 0.5f, 0.5f, 0.5f, "grey");
        using (var p = ImageTensor.Load(Fixture("palette.png"))) AssertColor(p, 8, 8, 0, 0, 1, "palette blue");
        using (var d = ImageTensor.Load(Fixture("rgb16.png")))
        {
            Assert.Equal(new long[] { 1, 3, 8, 8 }, d.shape);
            AssertColor(d, 3, 3, 0.5f, 0.25f, 1, "16-bit");
        }
        using (var one = ImageTensor.Load(Fixture("one_pixel.png")))
        {
            Assert.Equal(new long[] { 1, 3, 1, 1 }, one.shape);
            var e = Assert.Throws<SonicException>(() => EditGeometry.Plan(1, 1, 512, ImageFit.Resize, "one_pixel.png"));
            Assert.Contains("1x1", e.Message);
        }
    }

    [Fact]
    public void ExtremeAspectIsRefusedForResizeButFitsCropAndPad()
    {
        var e = Assert.Throws<SonicException>(() => EditGeometry.Plan(1000, 10, 512, ImageFit.Resize, "strip.png"));
        Assert.Contains("--fit", e.Message);
        Assert.Equal(512, EditGeometry.Plan(1000, 10, 512, ImageFit.Pad).InputWidth);
    }

    [Theory]
    [InlineData(ImageFit.Resize, 640, 480, 680, 512)]
    [InlineData(ImageFit.Resize, 480, 640, 512, 680)]
    [InlineData(ImageFit.Resize, 512, 512, 512, 512)]
    [InlineData(ImageFit.Resize, 1000, 250, 2048, 512)]
    [InlineData(ImageFit.Crop, 640, 480, 512, 512)]
    [InlineData(ImageFit.Pad, 640, 480, 512, 512)]
    public void GeometryKeepsMultiplesOfEight(ImageFit fit, int w, int h, int inW, int inH)
    {
        var g = EditGeometry.Plan(w, h, 512, fit);
        Assert.Equal((inW, inH), (g.InputWidth, g.InputHeight));
        Assert.Equal(0, g.InputWidth % 8);
        Assert.Equal(0, g.InputHeight % 8);
        Assert.Equal(fit == ImageFit.Crop ? (480, 480) : (w, h), g.OutputSize);
    }
}
