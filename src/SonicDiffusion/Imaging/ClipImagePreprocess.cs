using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Imaging;

/// <summary>
/// openai/CLIP's <c>_transform(n_px)</c>: Pillow bicubic resize of the shorter side to n_px (the longer one to
/// <c>int(n_px·long/short)</c>, as torchvision computes it), centre crop n_px×n_px (offsets rounded half to even, as
/// Python's <c>round</c>), to [0, 1], then (x − mean) / std with CLIP's mean and std.
/// </summary>
public static class ClipImagePreprocess
{
    public static readonly float[] Mean = [0.48145466f, 0.4578275f, 0.40821073f];
    public static readonly float[] Std = [0.26862954f, 0.26130258f, 0.27577711f];

    /// <summary>Decodes an image file and preprocesses it: [3, n_px, n_px] float32.</summary>
    public static Tensor FromFile(string path, int nPx)
    {
        using var image = ImageTensor.Load(path);
        return Apply(image, nPx);
    }

    /// <summary>An image [1, 3, H, W] or [3, H, W] in [0, 1] (8-bit values, as decoded) → [3, n_px, n_px].</summary>
    public static Tensor Apply(Tensor image01, int nPx)
    {
        using var scope = torch.NewDisposeScope();
        var img = image01.dim() == 4 ? image01[0] : image01;
        if (img.dim() != 3 || img.shape[0] != 3) throw new SonicException($"CLIP preprocessing: expected an RGB image, got [{string.Join(", ", image01.shape)}]");
        int h = (int)img.shape[1], w = (int)img.shape[2];
        var bytes = img.permute(1, 2, 0).mul(255).round().clamp(0, 255).to_type(ScalarType.Byte).contiguous().data<byte>().ToArray();
        var (rw, rh) = ResizedSize(w, h, nPx);
        var resized = PilBicubicResize.Resize(bytes, w, h, rw, rh);
        int top = (int)Math.Round((rh - nPx) / 2.0, MidpointRounding.ToEven);
        int left = (int)Math.Round((rw - nPx) / 2.0, MidpointRounding.ToEven);
        var t = torch.tensor(resized, dtype: ScalarType.Byte).reshape(rh, rw, 3).narrow(0, top, nPx).narrow(1, left, nPx)
            .permute(2, 0, 1).to_type(ScalarType.Float32).div(255);
        using var mean = torch.tensor(Mean).reshape(3, 1, 1);
        using var std = torch.tensor(Std).reshape(3, 1, 1);
        return t.sub(mean).div(std).contiguous().MoveToOuterDisposeScope();
    }

    /// <summary>torchvision's <c>Resize(n_px)</c> output size (width, height): shorter side n_px, longer side truncated.</summary>
    public static (int Width, int Height) ResizedSize(int w, int h, int nPx)
    {
        if (w <= h) return (nPx, (int)(nPx * (double)h / w));
        return ((int)(nPx * (double)w / h), nPx);
    }
}
