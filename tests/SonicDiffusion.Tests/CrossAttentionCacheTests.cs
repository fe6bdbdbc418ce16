using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>Cross-attention keys/values computed once per sampling run give the same numbers as computing them every call.</summary>
public class CrossAttentionCacheTests(TinySonicFixture tiny) : IClassFixture<TinySonicFixture>
{
    private static bool Same(Tensor a, Tensor b) => a.equal(b).all().item<bool>();

    /// <summary>Random text and audio contexts of two branches for the tiny bundle, and its number of cross-attentions.</summary>
    private static (Tensor Text, Tensor Audio, int CrossAttentions) Contexts(SonicDiffusionModel model, int seed)
    {
        var unet = model.Sd.Unet;
        torch.manual_seed(seed);
        return (torch.randn(2, 77, unet.Config.CrossAttentionDim), torch.randn(2, model.Projector.Config.AudioTokenCount, model.Adapters.ContextDim),
            unet.TransformerBlocks().Count() + model.Adapters.Sites.Count);
    }

    [Fact]
    public void CachedKeysAndValuesGiveBitIdenticalUNetOutputsAndAreReused()
    {
        using var model = tiny.Load();
        var unet = model.Sd.Unet;
        using var mode = torch.inference_mode();
        var (text, audio, crossAttentions) = Contexts(model, 3);
        using var _ = text;
        using var __ = audio;
        using var cache = new CrossAttentionCache();
        foreach (int t in new[] { 900, 500, 20 })
        {
            using var x = torch.randn(2, 4, 8, 8);
            using var ts = torch.full(new long[] { 2 }, t, dtype: ScalarType.Int64);
            using var plain = unet.Forward(x, ts, text, new UNetCallContext { AudioContext = audio });
            using var cached = unet.Forward(x, ts, text, new UNetCallContext { AudioContext = audio, CrossAttentionCache = cache });
            Assert.True(Same(plain, cached), $"t = {t}: cached keys/values changed the output");
        }
        Assert.Equal(crossAttentions, cache.Count);
        Assert.Equal(crossAttentions, cache.Misses);
        Assert.Equal(2 * crossAttentions, cache.Hits);

        using var other = torch.randn(1, 77, unet.Config.CrossAttentionDim);
        using var x1 = torch.randn(1, 4, 8, 8);
        using var t1 = torch.full(new long[] { 1 }, 10, dtype: ScalarType.Int64);
        var e = Assert.Throws<InvalidOperationException>(() => unet.Forward(x1, t1, other, new UNetCallContext { CrossAttentionCache = cache }));
        Assert.Contains("source changed", e.Message);
    }

    [Fact]
    public void CacheOwnsItsTensorsUntilDisposed()
    {
        using var model = tiny.Load();
        var unet = model.Sd.Unet;
        using var mode = torch.inference_mode();
        using var text = torch.randn(1, 77, unet.Config.CrossAttentionDim);
        using var x = torch.randn(1, 4, 8, 8);
        using var ts = torch.full(new long[] { 1 }, 400, dtype: ScalarType.Int64);
        long before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        var cache = new CrossAttentionCache();
        using (var scope = torch.NewDisposeScope()) unet.Forward(x, ts, text, new UNetCallContext { CrossAttentionCache = cache });
        Assert.True(cache.Count > 0);
        using (var scope = torch.NewDisposeScope())
        {
            // the per-call scope is gone: the cached tensors must still be usable
            using var again = unet.Forward(x, ts, text, new UNetCallContext { CrossAttentionCache = cache });
            Assert.True(again.isfinite().all().item<bool>());
        }
        cache.Dispose();
        Assert.Equal(0, cache.Count);
        Assert.Equal(before, DisposeScopeManager.Statistics.ThreadTotalLiveCount);
    }

    [Fact]
    public void GuidedSamplingReusesKeysAndValuesAcrossSteps()
    {
        using var model = tiny.Load();
        var unet = model.Sd.Unet;
        using var mode = torch.inference_mode();
        var (text, audio, crossAttentions) = Contexts(model, 4);
        using var _ = text;
        using var __ = audio;
        using var x = torch.randn(1, 4, 8, 8);
        foreach (int threads in new[] { 1, 2 })
        {
            using var workers = threads > 1 ? new BranchWorkers(threads) : null;
            using var denoiser = new GuidedDenoiser(unet, text, audio, [7.5], workers: workers);
            using var a = denoiser.Denoise(x, 900);
            using var b = denoiser.Denoise(x, 800);
            var (hits, misses) = denoiser.CacheStatistics;
            Assert.Equal(threads * crossAttentions, misses);
            Assert.Equal(threads * crossAttentions, hits);
            using var reference = new GuidedDenoiser(unet, text, audio, [7.5], workers: workers);
            using var fresh = reference.Denoise(x, 800);
            Assert.True(Same(b, fresh), $"{threads} group(s): the second step with reused keys/values differs from a fresh one");
        }
    }
}
