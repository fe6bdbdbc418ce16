using SonicDiffusion.Imaging;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>Tiled VAE decode (--vae-tiling): the same picture, no seams, nothing leaked.</summary>
public class VaeTilingTests
{
    private static StableDiffusionComponents Bundle(VaeTiling? tiling) =>
        StableDiffusionComponents.Load(Path.Combine(RepoPaths.Root, "models", "sonic-mini"), new ModelLoadOptions { VaeTiling = tiling });

    /// <summary>A 256² crop of the world-2 preview sheet (several scenes and their borders), as the bundle's latents.</summary>
    private static Tensor Latents(StableDiffusionComponents sd)
    {
        using var sheet = ImageTensor.Load(Path.Combine(RepoPaths.Root, "docs", "world2-preview.png"));
        using var crop = sheet.narrow(2, 100, 256).narrow(3, 100, 256);
        using var mode = torch.inference_mode();
        return sd.EncodeImage(crop);
    }

    [Fact]
    public void TiledDecodeMatchesTheWholeDecodeWithoutSeams()
    {
        using var whole = Bundle(null);
        using var tiled = Bundle(new VaeTiling(Tile: 24, Overlap: 8));
        using var z = Latents(whole);
        Assert.Equal(32, z.shape[2]);
        using var mode = torch.inference_mode();
        using var a = whole.DecodeToImage(z);
        long live = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        using var b = tiled.DecodeToImage(z);
        Assert.Equal(live + 1, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
        Assert.Equal(a.shape, b.shape);

        double mse = (a - b).square().mean().item<float>();
        double psnr = 10 * Math.Log10(1 / mse);
        Assert.True(psnr > 28, $"tiled vs whole decode: PSNR {psnr:0.0} dB"); // 31.4 dB measured (16/4: 23.8, 28/12: 39.3)

        // tiles start at latent rows/cols 0 and 8 (the second flush with the edge): their pixel edges at 64 and 192
        // must not be visible as jumps — the step across each is no larger than the picture's own steps nearby
        double Step(Tensor img, int dim, long at) => (img.narrow(dim, at, 1) - img.narrow(dim, at - 1, 1)).abs().mean().item<float>();
        foreach (int dim in new[] { 2, 3 })
            foreach (long edge in new long[] { 64, 192 })
            {
                double seamExcess = Step(b, dim, edge) - Step(a, dim, edge);
                Assert.True(seamExcess < 0.01, $"dim {dim}, pixel {edge}: the tiled decode steps {seamExcess:0.0000} more across the tile edge than the whole decode");
            }
    }

    [Fact]
    public void LatentsThatFitOneTileDecodeWhole()
    {
        using var sd = Bundle(null);
        using var mode = torch.inference_mode();
        torch.manual_seed(5);
        using var z = torch.randn(1, 4, 16, 16);
        using var whole = sd.Vae.DecodeLatents(z);
        using var tiled = sd.Vae.DecodeLatentsTiled(z, tile: 16, overlap: 4);
        TensorAssert.BitEqual(whole, tiled, "one tile");
        Assert.Throws<ArgumentOutOfRangeException>(() => sd.Vae.DecodeLatentsTiled(z, tile: 8, overlap: 8));
    }
}
