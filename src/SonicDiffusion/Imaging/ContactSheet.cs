using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Imaging;

/// <summary>
/// A grid of image files on white: one row per <see cref="Row"/>, its images left to right, separated by
/// <see cref="Gap"/> pixels. Rows may differ in length; every image of a sheet must have the same size.
/// </summary>
public static class ContactSheet
{
    public const int Gap = 2;

    /// <param name="Name">What the row shows (recorded in the sheet's metadata by callers).</param>
    /// <param name="Images">Image files of the row, left to right.</param>
    public sealed record Row(string Name, IReadOnlyList<string> Images);

    /// <summary>The sheet as [1, 3, H, W] in [0, 1]; rows without images are left out.</summary>
    public static Tensor Compose(IReadOnlyList<Row> rows)
    {
        var filled = rows.Where(r => r.Images.Count > 0).ToList();
        if (filled.Count == 0) throw new SonicException("contact sheet: no images");
        using var scope = torch.NewDisposeScope();
        long h = -1, w = -1;
        var lines = new List<Tensor>();
        foreach (var row in filled)
        {
            var cells = new List<Tensor>();
            foreach (var path in row.Images)
            {
                var image = ImageTensor.Load(path)[0];
                if (h < 0) (h, w) = (image.shape[1], image.shape[2]);
                else if (image.shape[1] != h || image.shape[2] != w)
                    throw new SonicException($"{path}: {image.shape[2]}x{image.shape[1]}, but the sheet's images are {w}x{h}");
                if (cells.Count > 0) cells.Add(torch.ones(3, h, Gap));
                cells.Add(image);
            }
            lines.Add(torch.cat(cells.ToArray(), 2));
        }
        long width = lines.Max(l => l.shape[2]);
        var parts = new List<Tensor>();
        foreach (var line in lines)
        {
            if (parts.Count > 0) parts.Add(torch.ones(3, Gap, width));
            parts.Add(line.shape[2] == width ? line : torch.cat([line, torch.ones(3, h, width - line.shape[2])], 2));
        }
        return torch.cat(parts.ToArray(), 1).unsqueeze(0).MoveToOuterDisposeScope();
    }

    /// <summary>Composes <paramref name="rows"/> and writes the sheet as a PNG with <paramref name="text"/> chunks.</summary>
    public static void Write(string path, IReadOnlyList<Row> rows, IEnumerable<KeyValuePair<string, string>>? text = null)
    {
        using var sheet = Compose(rows);
        ImageTensor.SavePng(sheet, path, text);
    }
}
