using SonicDiffusion.Diagnostics;

namespace SonicDiffusion.Tests;

public class UNetCostTests
{
    [Fact]
    public void StableDiffusionV1MatchesPublishedCount()
    {
        var c = UNetCost.StableDiffusionV1();
        // sd-architecture.md §7.2: 338.61 G conv+linear, 63.03 G attention, 401.64 GMACs total
        Assert.InRange(c.LinearMacs / 1e9, 338.5, 338.7);
        Assert.InRange(c.AttentionMacs / 1e9, 62.98, 63.08);
        Assert.InRange(c.TotalMacs / 1e9, 401.55, 401.75);
        Assert.InRange(c.BlockMacs["down_blocks.0"] / 1e9, 54.70, 54.85);
        Assert.InRange(c.BlockMacs["up_blocks.3"] / 1e9, 98.70, 98.85);
        Assert.InRange(c.BlockMacs["mid_block"] / 1e9, 6.00, 6.10);
    }
}

public class VaeCostTests
{
    [Fact]
    public void StableDiffusionV1MatchesPublishedCount()
    {
        // sd-architecture.md §7.3: decode 1,257.26 GMACs; encode 558.33 GMACs
        Assert.InRange(VaeCost.StableDiffusionV1DecodeMacs() / 1e9, 1257.1, 1257.4);
        Assert.InRange(VaeCost.StableDiffusionV1EncodeMacs() / 1e9, 558.2, 558.5);
    }
}
