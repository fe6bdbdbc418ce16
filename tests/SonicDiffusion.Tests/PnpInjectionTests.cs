using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>What the PnP hooks replace, and when.</summary>
public class PnpInjectionTests
{
    private static UNetCallContext At(int t)
    {
        var ctx = new UNetCallContext();
        ctx.Items[PnpInjection.TimestepKey] = t;
        return ctx;
    }

    [Fact]
    public void ResidualHookCopiesItemZeroOnlyAtScheduledTimesteps()
    {
        torch.manual_seed(3);
        using var unet = new UNet2DConditionModel(TinyStableDiffusion.UNetConfig);
        using var r = torch.randn(3, 64, 4, 4);
        using (var pnp = new PnpInjection(unet, [981, 961], [981]))
        {
            var block = unet.up_blocks[1].resnets[1];
            Assert.Equal(["up_blocks.1.resnets.1"], pnp.ConvSites);
            using var on = block.ResidualHook!(block, r, At(961));
            for (int i = 0; i < 3; i++) Assert.True(on[i].equal(r[0]).all().item<bool>());
            using var off = block.ResidualHook!(block, r, At(941));
            Assert.True(off.equal(r).all().item<bool>());
            using var always = block.ResidualHook!(block, r, At(1000));
            Assert.True(always[2].equal(r[0]).all().item<bool>());
            using var noContext = block.ResidualHook!(block, r, null);
            Assert.True(noContext.equal(r).all().item<bool>());
        }
        Assert.Null(unet.up_blocks[1].resnets[1].ResidualHook);
    }

    [Fact]
    public void SelfAttentionGetsItemZeroQueriesAndKeysButKeepsItsValues()
    {
        torch.manual_seed(4);
        using var unet = new UNet2DConditionModel(TinyStableDiffusion.UNetConfig);
        using var mode = torch.inference_mode();
        using var pnp = new PnpInjection(unet, [], [500]);
        var attn = unet.up_blocks[1].attentions[1].transformer_blocks[0].attn1;
        using var h = torch.randn(3, 16, attn.QueryDim);
        var cross = unet.up_blocks[1].attentions[1].transformer_blocks[0].attn2;
        using var injected = attn.forward(h, null, At(500));
        using var q = attn.to_q.forward(h);
        using var k = attn.to_k.forward(h);
        using var v = attn.to_v.forward(h);
        using var expected = attn.AttendAndProject(q[..1].expand_as(q), k[..1].expand_as(k), v);
        Assert.True((injected - expected).abs().max().item<float>() < 1e-6);
        using var plain = attn.forward(h, null, At(480));
        using var reference = attn.AttendAndProject(q, k, v);
        Assert.True((plain - reference).abs().max().item<float>() < 1e-6);
        Assert.False((injected[1] - plain[1]).abs().max().item<float>() < 1e-4, "injection changed item 1");
        Assert.True((injected[0] - plain[0]).abs().max().item<float>() < 1e-6, "item 0 is the source itself");
        Assert.Same(AttnProcessor.Default, cross.Processor);
    }

    [Fact]
    public void FeatureSitesReplaceTheOfficialResnetsAndBadNamesAreRefused()
    {
        using var unet = new UNet2DConditionModel(TinyStableDiffusion.UNetConfig);
        string[] sites = ["up_blocks.1.resnets.0", "up_blocks.0.resnets.1"];
        using (var pnp = new PnpInjection(unet, [981], [981], sites))
        {
            Assert.Equal(sites, pnp.ConvSites);
            Assert.NotNull(unet.up_blocks[1].resnets[0].ResidualHook);
            Assert.NotNull(unet.up_blocks[0].resnets[1].ResidualHook);
            Assert.Null(unet.up_blocks[1].resnets[1].ResidualHook);
            Assert.Equal(PnpInjection.Sites(unet).Attn.Select(a => a.Name), pnp.AttnSites);
        }
        Assert.All(unet.up_blocks.SelectMany(b => b.resnets), r => Assert.Null(r.ResidualHook));

        var e = Assert.Throws<SonicDiffusion.Core.SonicException>(() => new PnpInjection(unet, [], [], ["up_blocks.1.resnets.9"]));
        Assert.Contains("--feature-sites 'up_blocks.1.resnets.9': not a decoder resnet", e.Message);
        Assert.Contains("up_blocks.1.resnets.1", e.Message);
        e = Assert.Throws<SonicDiffusion.Core.SonicException>(() => new PnpInjection(unet, [], [], ["down_blocks.0.resnets.0"]));
        Assert.Contains("'down_blocks.0.resnets.0'", e.Message);
        e = Assert.Throws<SonicDiffusion.Core.SonicException>(() => PnpInjection.DecoderResnets(unet, ["up_blocks.1.resnets.0", " up_blocks.1.resnets.0"]));
        Assert.Contains("named twice", e.Message);
        Assert.Throws<SonicDiffusion.Core.SonicException>(() => PnpInjection.DecoderResnets(unet, []));
        Assert.All(unet.up_blocks.SelectMany(b => b.resnets), r => Assert.Null(r.ResidualHook));
    }
}
