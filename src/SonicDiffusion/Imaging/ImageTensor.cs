using SkiaSharp;
using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Imaging;

/// <summary>Conversions between image files / bitmaps and [1,3,H,W] float tensors.</summary>
public static class ImageTensor
{
    /// <summary>[1,3,H,W] or [3,H,W] in [0,1] → 8-bit RGBA bytes (row-major).</summary>
    public static byte[] ToRgba(Tensor image, out int width, out int height)
    {
        using var scope = torch.NewDisposeScope();
        var x = image.dim() == 4 ? image[0] : image;
        if (x.dim() != 3 || x.shape[0] != 3) throw new ArgumentException($"expected an RGB image tensor, got shape [{string.Join(",", image.shape)}]");
        height = (int)x.shape[1];
        width = (int)x.shape[2];
        var rgb = x.detach().cpu().to_type(ScalarType.Float32).clamp(0, 1).mul(255).round().to_type(ScalarType.Byte).permute(1, 2, 0);
        var alpha = torch.full(new long[] { height, width, 1 }, 255, dtype: ScalarType.Byte);
        var rgba = torch.cat(new[] { rgb, alpha }, 2).contiguous();
        return rgba.bytes.ToArray();
    }

    /// <summary>Encodes an RGB tensor in [0,1] as PNG, with the given text entries as iTXt chunks.</summary>
    public static byte[] EncodePng(Tensor image, IEnumerable<KeyValuePair<string, string>>? text = null)
    {
        var rgba = ToRgba(image, out int w, out int h);
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        System.Runtime.InteropServices.Marshal.Copy(rgba, 0, bmp.GetPixels(), rgba.Length);
        using var img = SKImage.FromBitmap(bmp);
        using var data = img.Encode(SKEncodedImageFormat.Png, 100);
        var png = data.ToArray();
        return text == null ? png : PngText.Insert(png, text);
    }

    /// <summary>Writes a PNG atomically (temp file + rename), creating the folder if needed.</summary>
    public static void SavePng(Tensor image, string path, IEnumerable<KeyValuePair<string, string>>? text = null)
    {
        var bytes = EncodePng(image, text);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var tmp = full + ".tmp";
        File.WriteAllBytes(tmp, bytes);
        File.Move(tmp, full, true);
    }

    /// <summary>Decodes an image file to [1,3,H,W] float32 in [0,1] (alpha composited over white, EXIF orientation applied).</summary>
    public static Tensor Load(string path)
    {
        if (!File.Exists(path)) throw new SonicException($"{path}: file not found");
        using var codec = SKCodec.Create(path) ?? throw new SonicException($"{path}: not a readable image (unknown or corrupt format)");
        return Decode(codec, path);
    }

    /// <summary>
    /// Decodes image bytes (PNG, JPEG, WebP, GIF, BMP — detected from the content) like <see cref="Load"/>;
    /// <paramref name="name"/> starts every error message.
    /// </summary>
    public static Tensor Decode(byte[] data, string name)
    {
        if (data.Length == 0) throw new SonicException($"{name}: image file is empty");
        using var sk = SKData.CreateCopy(data);
        using var codec = SKCodec.Create(sk) ?? throw new SonicException($"{name}: not a readable image (unknown or corrupt format)");
        return Decode(codec, name);
    }

    /// <summary>
    /// The displayed size (EXIF orientation applied) of encoded image bytes, read from the header without decoding the
    /// pixels; the same detection and messages as <see cref="Decode(byte[], string)"/>.
    /// </summary>
    public static (int Width, int Height) Probe(byte[] data, string name)
    {
        if (data.Length == 0) throw new SonicException($"{name}: image file is empty");
        using var sk = SKData.CreateCopy(data);
        using var codec = SKCodec.Create(sk) ?? throw new SonicException($"{name}: not a readable image (unknown or corrupt format)");
        var info = codec.Info;
        bool swap = codec.EncodedOrigin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        return swap ? (info.Height, info.Width) : (info.Width, info.Height);
    }

    private static Tensor Decode(SKCodec codec, string path)
    {
        var info = codec.Info;
        if ((long)info.Width * info.Height > 80_000_000)
            throw new SonicException($"{path}: image is {info.Width}x{info.Height}, larger than the 80 megapixel limit");
        var target = new SKImageInfo(info.Width, info.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul);
        using var bmp = new SKBitmap(target);
        var res = codec.GetPixels(target, bmp.GetPixels());
        if (res != SKCodecResult.Success && res != SKCodecResult.IncompleteInput)
            throw new SonicException($"{path}: image could not be decoded ({res})");
        using var oriented = ApplyOrientation(bmp, codec.EncodedOrigin);
        var bytes = new byte[oriented.ByteCount];
        System.Runtime.InteropServices.Marshal.Copy(oriented.GetPixels(), bytes, 0, bytes.Length);
        using var scope = torch.NewDisposeScope();
        var t = torch.tensor(bytes, dtype: ScalarType.Byte).reshape(oriented.Height, oriented.Width, 4).to_type(ScalarType.Float32).div(255);
        var rgb = t.narrow(2, 0, 3);
        var a = t.narrow(2, 3, 1);
        var composited = rgb * a + (1 - a);
        return composited.permute(2, 0, 1).unsqueeze(0).contiguous().MoveToOuterDisposeScope();
    }

    private static SKBitmap ApplyOrientation(SKBitmap src, SKEncodedOrigin origin)
    {
        if (origin == SKEncodedOrigin.TopLeft) return src.Copy();
        bool swap = origin is SKEncodedOrigin.LeftTop or SKEncodedOrigin.RightTop or SKEncodedOrigin.RightBottom or SKEncodedOrigin.LeftBottom;
        var dst = new SKBitmap(new SKImageInfo(swap ? src.Height : src.Width, swap ? src.Width : src.Height, SKColorType.Rgba8888, SKAlphaType.Unpremul));
        using var canvas = new SKCanvas(dst);
        float w = src.Width, h = src.Height;
        switch (origin)
        {
            case SKEncodedOrigin.TopRight: canvas.Scale(-1, 1); canvas.Translate(-w, 0); break;
            case SKEncodedOrigin.BottomRight: canvas.RotateDegrees(180); canvas.Translate(-w, -h); break;
            case SKEncodedOrigin.BottomLeft: canvas.Scale(1, -1); canvas.Translate(0, -h); break;
            case SKEncodedOrigin.LeftTop: canvas.RotateDegrees(90); canvas.Scale(1, -1); break;
            case SKEncodedOrigin.RightTop: canvas.Translate(h, 0); canvas.RotateDegrees(90); break;
            case SKEncodedOrigin.RightBottom: canvas.SetMatrix(new SKMatrix(0, -1, h, -1, 0, w, 0, 0, 1)); break;   // transverse: (x, y) → (h − y, w − x)
            case SKEncodedOrigin.LeftBottom: canvas.Translate(0, w); canvas.RotateDegrees(270); break;
        }
        canvas.DrawBitmap(src, 0, 0);
        return dst;
    }
}
