using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// A linear colour transform of RGB images (a 3×3 matrix applied to every pixel, result clamped to [0, 1]): hue rotations
/// about the grey axis and channel permutations. Used to test that a classifier judges content, not palette, and (with
/// random parameters) as the classifier's training augmentation.
/// </summary>
public sealed record ColourShift(string Name, double[,] Matrix)
{
    /// <summary>The held-out colour shifts the classifier is reported on: hue rotations of 90°, 180°, 270° and the 5 non-identity channel permutations.</summary>
    public static IReadOnlyList<ColourShift> Standard { get; } =
    [
        HueRotation(90), HueRotation(180), HueRotation(270),
        ChannelPermutation(0, 2, 1), ChannelPermutation(1, 0, 2), ChannelPermutation(1, 2, 0),
        ChannelPermutation(2, 0, 1), ChannelPermutation(2, 1, 0),
    ];

    /// <summary>Rotation by <paramref name="degrees"/> about the grey axis (1,1,1)/√3 (Rodrigues' formula): greys stay grey.</summary>
    public static ColourShift HueRotation(double degrees) => new($"hue {degrees:0}°", HueMatrix(degrees * Math.PI / 180));

    /// <summary>Output channel c takes input channel <paramref name="order"/>[c] (e.g. 2,1,0 swaps red and blue).</summary>
    public static ColourShift ChannelPermutation(params int[] order)
    {
        var m = new double[3, 3];
        for (int c = 0; c < 3; c++) m[c, order[c]] = 1;
        return new($"channels {string.Concat(order.Select(i => "RGB"[i]))}", m);
    }

    public static double[,] HueMatrix(double radians)
    {
        double c = Math.Cos(radians), s = Math.Sin(radians), k = 1 / Math.Sqrt(3), third = (1 - c) / 3;
        return new[,]
        {
            { c + third, third - s * k, third + s * k },
            { third + s * k, c + third, third - s * k },
            { third - s * k, third + s * k, c + third },
        };
    }

    /// <summary>Applies the transform to images [B, 3, H, W] in [0, 1].</summary>
    public Tensor Apply(Tensor images)
    {
        using var scope = torch.NewDisposeScope();
        var m = torch.tensor(Matrix, dtype: images.dtype, device: images.device);
        return ApplyMatrices(images, m.unsqueeze(0).expand(images.shape[0], 3, 3)).MoveToOuterDisposeScope();
    }

    /// <summary>Applies one 3×3 matrix per image: images [B, 3, H, W], matrices [B, 3, 3]; clamped to [0, 1].</summary>
    public static Tensor ApplyMatrices(Tensor images, Tensor matrices)
    {
        using var scope = torch.NewDisposeScope();
        long b = images.shape[0], h = images.shape[2], w = images.shape[3];
        var y = torch.bmm(matrices.to_type(images.dtype), images.reshape(b, 3, h * w)).reshape(b, 3, h, w);
        return y.clamp(0, 1).MoveToOuterDisposeScope();
    }
}
