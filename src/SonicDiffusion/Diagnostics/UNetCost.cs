namespace SonicDiffusion.Diagnostics;

/// <summary>
/// Multiply-accumulate count of one UNet2DConditionModel forward (batch 1), by the method of sd-architecture.md §7:
/// convolutions and linear layers, plus the attention score and value matmuls; norms and activations excluded.
/// For SD v1 at a 64×64 latent this gives 401.64 GMACs (0.803 TFLOP).
/// </summary>
public static class UNetCost
{
    public sealed record Breakdown(IReadOnlyDictionary<string, double> BlockMacs, double LinearMacs, double AttentionMacs)
    {
        public double TotalMacs => LinearMacs + AttentionMacs;
        public double TotalFlops => 2 * TotalMacs;
    }

    /// <param name="channels">block_out_channels</param>
    /// <param name="crossAttnDown">per down level: whether it has transformer blocks (up levels mirror it)</param>
    public static Breakdown Count(int[] channels, int layersPerBlock, bool[] crossAttnDown, bool midAttention,
        int inChannels, int outChannels, int crossAttentionDim, int contextLength, int latentHeight, int latentWidth,
        int transformerLayers = 1)
    {
        double lin = 0, att = 0;
        var blocks = new Dictionary<string, double>();
        int temb = channels[0] * 4;
        long Tokens(int level) => (long)(latentHeight >> level) * (latentWidth >> level);

        void Add(string block, double l, double a) { lin += l; att += a; blocks[block] = blocks.GetValueOrDefault(block) + l + a; }
        void Resnet(string block, long n, int cin, int cout) =>
            Add(block, n * 9.0 * ((double)cin * cout + (double)cout * cout) + (cin != cout ? (double)n * cin * cout : 0) + (double)temb * cout, 0);
        void Transformer(string block, long n, int c)
        {
            for (int t = 0; t < transformerLayers; t++)
                Add(block,
                    20.0 * n * c * c + 2.0 * contextLength * crossAttentionDim * c,
                    2.0 * n * n * c + 2.0 * n * contextLength * c);
        }

        Add("time_embedding", (double)channels[0] * temb + (double)temb * temb, 0);
        Add("conv_in", Tokens(0) * 9.0 * inChannels * channels[0], 0);
        var skips = new Stack<int>();
        skips.Push(channels[0]);
        int prev = channels[0];
        int levels = channels.Length;
        for (int i = 0; i < levels; i++)
        {
            string name = $"down_blocks.{i}";
            for (int j = 0; j < layersPerBlock; j++)
            {
                Resnet(name, Tokens(i), j == 0 ? prev : channels[i], channels[i]);
                if (crossAttnDown[i]) Transformer(name, Tokens(i), channels[i]);
                skips.Push(channels[i]);
            }
            prev = channels[i];
            if (i < levels - 1)
            {
                Add(name, Tokens(i + 1) * 9.0 * channels[i] * channels[i], 0);
                skips.Push(channels[i]);
            }
        }
        int last = levels - 1;
        Resnet("mid_block", Tokens(last), prev, prev);
        if (midAttention) Transformer("mid_block", Tokens(last), prev);
        Resnet("mid_block", Tokens(last), prev, prev);
        for (int u = 0; u < levels; u++)
        {
            int level = last - u;
            string name = $"up_blocks.{u}";
            int cout = channels[level];
            for (int j = 0; j <= layersPerBlock; j++)
            {
                Resnet(name, Tokens(level), prev + skips.Pop(), cout);
                if (crossAttnDown[level]) Transformer(name, Tokens(level), cout);
                prev = cout;
            }
            if (u < levels - 1) Add(name, Tokens(level - 1) * 9.0 * cout * cout, 0);
        }
        Add("conv_out", Tokens(0) * 9.0 * channels[0] * outChannels, 0);
        return new Breakdown(blocks, lin, att);
    }

    /// <summary>A UNet of <paramref name="cfg"/> (mid block with attention) at the given latent size.</summary>
    public static Breakdown ForConfig(Models.UNet2DConditionConfig cfg, int latentHeight, int latentWidth, int contextLength = 77) =>
        Count(cfg.BlockOutChannels, cfg.LayersPerBlock, Enumerable.Range(0, cfg.NumLevels).Select(cfg.DownHasAttention).ToArray(),
            true, cfg.InChannels, cfg.OutChannels, cfg.CrossAttentionDim, contextLength, latentHeight, latentWidth);

    /// <summary>SD v1.x (v1.4/v1.5) UNet at the given latent size with a 77-token context.</summary>
    public static Breakdown StableDiffusionV1(int latentHeight = 64, int latentWidth = 64) =>
        Count(new[] { 320, 640, 1280, 1280 }, 2, new[] { true, true, true, false }, true, 4, 4, 768, 77, latentHeight, latentWidth);
}
