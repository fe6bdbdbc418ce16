using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Imaging;

/// <summary>
/// Where the source image sits in the model input and how an edit maps back: the source region (after an optional centre
/// crop) is scaled to <see cref="ContentWidth"/> × <see cref="ContentHeight"/> and placed at (<see cref="PadLeft"/>,
/// <see cref="PadTop"/>) of a <see cref="InputWidth"/> × <see cref="InputHeight"/> canvas (multiples of 8).
/// </summary>
public sealed record EditGeometry(int SourceWidth, int SourceHeight, int CropLeft, int CropTop, int CropWidth, int CropHeight,
    int InputWidth, int InputHeight, int PadLeft, int PadTop, int ContentWidth, int ContentHeight)
{
    /// <summary>Smallest source side accepted for editing.</summary>
    public const int MinSide = 8;
    /// <summary>Largest aspect ratio <see cref="ImageFit.Resize"/> accepts (the input would otherwise be huge).</summary>
    public const int MaxAspect = 4;

    public static EditGeometry Plan(int width, int height, int native, ImageFit fit, string source = "image")
    {
        if (width < MinSide || height < MinSide)
            throw new SonicException($"{source}: image is {width}x{height}; editing needs at least {MinSide}x{MinSide} pixels");
        if (native < 8 || native % 8 != 0) throw new ArgumentException($"native size {native} must be a positive multiple of 8");
        static int Round8(double x) => Math.Max(8, (int)Math.Round(x / 8) * 8);
        switch (fit)
        {
            case ImageFit.Resize:
            {
                double s = (double)native / Math.Min(width, height);
                int w = width <= height ? native : Round8(width * s), h = height <= width ? native : Round8(height * s);
                if (Math.Max(w, h) > MaxAspect * native)
                    throw new SonicException($"{source}: image is {width}x{height}, more than {MaxAspect}:1; its input would be {w}x{h} (use --fit crop or --fit pad)");
                return new(width, height, 0, 0, width, height, w, h, 0, 0, w, h);
            }
            case ImageFit.Crop:
            {
                int side = Math.Min(width, height);
                return new(width, height, (width - side) / 2, (height - side) / 2, side, side, native, native, 0, 0, native, native);
            }
            default:
            {
                double s = (double)native / Math.Max(width, height);
                int w = Math.Clamp((int)Math.Round(width * s), 1, native), h = Math.Clamp((int)Math.Round(height * s), 1, native);
                return new(width, height, 0, 0, width, height, native, native, (native - w) / 2, (native - h) / 2, w, h);
            }
        }
    }

    /// <summary>Size of the edited output: the source size (the crop's size for <see cref="ImageFit.Crop"/>).</summary>
    public (int Width, int Height) OutputSize => (CropWidth, CropHeight);

    /// <summary>Source [1,3,H,W] in [0,1] → model input [1,3,InputHeight,InputWidth].</summary>
    public Tensor ToInput(Tensor source)
    {
        using var scope = torch.NewDisposeScope();
        var x = source.narrow(2, CropTop, CropHeight).narrow(3, CropLeft, CropWidth);
        x = Resample(x, ContentHeight, ContentWidth);
        if (ContentWidth != InputWidth || ContentHeight != InputHeight)
        {
            var canvas = torch.full(new long[] { 1, 3, InputHeight, InputWidth }, 0.5f, dtype: x.dtype);
            canvas.narrow(2, PadTop, ContentHeight).narrow(3, PadLeft, ContentWidth).copy_(x);
            x = canvas;
        }
        return x.contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Model output [1,3,InputHeight,InputWidth] → image at <see cref="OutputSize"/>.</summary>
    public Tensor FromOutput(Tensor output)
    {
        using var scope = torch.NewDisposeScope();
        var x = output.narrow(2, PadTop, ContentHeight).narrow(3, PadLeft, ContentWidth);
        return Resample(x, CropHeight, CropWidth).clamp(0, 1).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>Bicubic resampling with antialiasing when shrinking; a no-op copy at the same size.</summary>
    public static Tensor Resample(Tensor x, int height, int width)
    {
        if (x.shape[2] == height && x.shape[3] == width) return x.clone();
        return F.interpolate(x, size: new long[] { height, width }, mode: InterpolationMode.Bicubic, align_corners: false, antialias: true);
    }
}
