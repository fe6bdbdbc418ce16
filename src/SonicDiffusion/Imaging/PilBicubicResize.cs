namespace SonicDiffusion.Imaging;

/// <summary>
/// Pillow's <c>Image.resize(..., BICUBIC)</c> on 8-bit RGB, bit for bit: separable convolution with the a = −0.5 cubic,
/// support widened by the downscale factor (antialiasing), coefficients in 22-bit fixed point, a horizontal pass
/// rounded to 8 bits, then a vertical pass (Pillow's <c>Resample.c</c>). CLIP's preprocessing goes through it.
/// </summary>
public static class PilBicubicResize
{
    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Interleaved RGB bytes [h, w, 3] → [outH, outW, 3].</summary>
    public static byte[] Resize(byte[] rgb, int w, int h, int outW, int outH)
    {
        if (rgb.Length != (long)w * h * 3) throw new ArgumentException($"expected {w}x{h}x3 bytes, got {rgb.Length}");
        byte[] src = rgb;
        int curW = w, curH = h;
        var (vb, vk, vks) = Coefficients(h, outH);
        if (outW != w)
        {
            int yFirst = vb[0], yLast = vb[2 * outH - 2] + vb[2 * outH - 1];
            for (int i = 0; i < outH; i++) vb[2 * i] -= yFirst;
            var (hb, hk, hks) = Coefficients(w, outW);
            int rows = yLast - yFirst;
            var tmp = new byte[rows * outW * 3];
            for (int y = 0; y < rows; y++)
            {
                int rowIn = (y + yFirst) * w * 3, rowOut = y * outW * 3;
                for (int x = 0; x < outW; x++)
                {
                    int min = hb[2 * x], n = hb[2 * x + 1], k0 = x * hks;
                    int r = 1 << (PrecisionBits - 1), g = r, b = r;
                    for (int i = 0; i < n; i++)
                    {
                        int p = rowIn + (min + i) * 3, c = hk[k0 + i];
                        r += src[p] * c; g += src[p + 1] * c; b += src[p + 2] * c;
                    }
                    tmp[rowOut + x * 3] = Clip8(r); tmp[rowOut + x * 3 + 1] = Clip8(g); tmp[rowOut + x * 3 + 2] = Clip8(b);
                }
            }
            src = tmp;
            curW = outW;
            curH = rows;
        }
        if (outH == h && curH == h) return src;
        var dst = new byte[outH * curW * 3];
        for (int y = 0; y < outH; y++)
        {
            int min = vb[2 * y], n = vb[2 * y + 1], k0 = y * vks;
            for (int x = 0; x < curW; x++)
            {
                int r = 1 << (PrecisionBits - 1), g = r, b = r;
                for (int i = 0; i < n; i++)
                {
                    int p = ((min + i) * curW + x) * 3, c = vk[k0 + i];
                    r += src[p] * c; g += src[p + 1] * c; b += src[p + 2] * c;
                }
                int o = (y * curW + x) * 3;
                dst[o] = Clip8(r); dst[o + 1] = Clip8(g); dst[o + 2] = Clip8(b);
            }
        }
        return dst;
    }

    private static byte Clip8(int v) => (byte)Math.Clamp(v >> PrecisionBits, 0, 255);

    private static double Cubic(double x)
    {
        const double a = -0.5;
        if (x < 0) x = -x;
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
        return 0;
    }

    /// <summary>Pillow's <c>precompute_coeffs</c> + <c>normalize_coeffs_8bpc</c>: per output pixel its first input index and count, and fixed-point weights.</summary>
    private static (int[] Bounds, int[] Weights, int KSize) Coefficients(int inSize, int outSize)
    {
        double scale = (double)inSize / outSize, filterScale = Math.Max(scale, 1.0);
        double support = 2.0 * filterScale;
        int ksize = (int)Math.Ceiling(support) * 2 + 1;
        var bounds = new int[outSize * 2];
        var weights = new int[outSize * ksize];
        var k = new double[ksize];
        for (int xx = 0; xx < outSize; xx++)
        {
            double center = (xx + 0.5) * scale, ww = 0, ss = 1.0 / filterScale;
            int xmin = (int)(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            int xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            for (int x = 0; x < xmax; x++)
            {
                double wgt = Cubic((x + xmin - center + 0.5) * ss);
                k[x] = wgt;
                ww += wgt;
            }
            for (int x = 0; x < xmax; x++)
            {
                double v = ww != 0 ? k[x] / ww : k[x];
                weights[xx * ksize + x] = (int)(v < 0 ? -0.5 + v * (1 << PrecisionBits) : 0.5 + v * (1 << PrecisionBits));
            }
            bounds[2 * xx] = xmin;
            bounds[2 * xx + 1] = xmax;
        }
        return (bounds, weights, ksize);
    }
}
