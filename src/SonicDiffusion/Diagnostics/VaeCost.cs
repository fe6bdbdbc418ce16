namespace SonicDiffusion.Diagnostics;

/// <summary>
/// Multiply-accumulate count of an AutoencoderKL decode or encode (batch 1), same method as <see cref="UNetCost"/>.
/// SD v1 decode of a 64×64 latent: 1,257.26 GMACs (2.51 TFLOP); encode of 512²: 558.33 GMACs.
/// </summary>
public static class VaeCost
{
    public static double DecodeMacs(int[] channels, int layersPerBlock, int latentChannels, int outChannels, int latentHeight, int latentWidth)
    {
        double macs = 0;
        int levels = channels.Length;
        long n = (long)latentHeight * latentWidth;
        int top = channels[^1];
        macs += n * (double)latentChannels * latentChannels;         // post_quant_conv 1×1
        macs += n * 9.0 * latentChannels * top;                       // conv_in
        macs += MidMacs(n, top);
        int prev = top;
        for (int i = 0; i < levels; i++)
        {
            int cout = channels[levels - 1 - i];
            for (int j = 0; j <= layersPerBlock; j++)
            {
                macs += Resnet(n, j == 0 ? prev : cout, cout);
            }
            prev = cout;
            if (i < levels - 1)
            {
                n *= 4;
                macs += n * 9.0 * cout * cout;
            }
        }
        macs += n * 9.0 * channels[0] * outChannels;                  // conv_out
        return macs;
    }

    public static double EncodeMacs(int[] channels, int layersPerBlock, int latentChannels, int inChannels, int imageHeight, int imageWidth)
    {
        double macs = 0;
        long n = (long)imageHeight * imageWidth;
        macs += n * 9.0 * inChannels * channels[0];                   // conv_in
        int prev = channels[0];
        for (int i = 0; i < channels.Length; i++)
        {
            for (int j = 0; j < layersPerBlock; j++)
            {
                macs += Resnet(n, j == 0 ? prev : channels[i], channels[i]);
            }
            prev = channels[i];
            if (i < channels.Length - 1)
            {
                n /= 4;
                macs += n * 9.0 * prev * prev;                        // stride-2 conv
            }
        }
        macs += MidMacs(n, prev);
        macs += n * 9.0 * prev * 2 * latentChannels;                  // conv_out to mean ‖ logvar
        macs += n * 4.0 * latentChannels * latentChannels;           // quant_conv 1×1 (2C → 2C)
        return macs;
    }

    private static double Resnet(long n, int cin, int cout) =>
        n * 9.0 * ((double)cin * cout + (double)cout * cout) + (cin != cout ? (double)n * cin * cout : 0);

    private static double MidMacs(long n, int c) => 2 * Resnet(n, c, c) + 4.0 * n * c * c + 2.0 * n * n * c;

    public static double StableDiffusionV1DecodeMacs(int latentHeight = 64, int latentWidth = 64) =>
        DecodeMacs(new[] { 128, 256, 512, 512 }, 2, 4, 3, latentHeight, latentWidth);

    public static double StableDiffusionV1EncodeMacs(int height = 512, int width = 512) =>
        EncodeMacs(new[] { 128, 256, 512, 512 }, 2, 4, 3, height, width);
}
