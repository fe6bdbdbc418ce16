using SonicDiffusion.Core;
using TorchSharp;

namespace SonicDiffusion.Tests;

public class TorchSmokeTests
{
    [Fact]
    public void LibTorchLoadsAndComputes()
    {
        using var a = torch.arange(6, dtype: torch.float32).reshape(2, 3);
        using var b = torch.matmul(a, a.t());
        Assert.Equal(new float[] { 5, 14, 14, 50 }, b.data<float>().ToArray());
        Assert.Contains("libtorch", TorchRuntime.Describe());
    }
}
