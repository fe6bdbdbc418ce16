using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>
/// The block-extension seam reproduces the official gated block (gated_block fixtures) when a gated adapter is
/// plugged in from outside: parameter names, placement after attn2 / before the FF, β and no-audio behaviour.
/// </summary>
public class TransformerBlockSeamTests
{
    public static TheoryData<string> Cases => GoldenFixture.CaseIds("gated_block", "forward");

    [Theory]
    [MemberData(nameof(Cases))]
    public void GatedAdapterThroughTheSeamMatchesReference(string id)
    {
        var (fx, c) = GoldenFixture.Resolve(id);
        int dim = fx.ConfigInt("dim"), heads = fx.ConfigInt("heads"), headDim = fx.ConfigInt("head_dim");
        using var block = new BasicTransformerBlock(dim, heads, headDim, fx.ConfigInt("ctx_dim"));
        var adapter = new TestGatedAdapter(fx.ConfigInt("audio_ctx_dim"));
        block.SetExtension(adapter);
        foreach (var entry in FixtureWeights.SafetensorsEntries(fx))
        {
            var raw = FixtureWeights.ReadFloat32(fx, entry, "sonicdiffusion-block");
            try
            {
                var report = WeightLoader.Load(block, raw, (string)entry["file"]!);
                Assert.True(report.IsComplete, report.Describe());
            }
            finally { FixtureWeights.DisposeAll(raw.Values); }
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            if (c.Param("gate_override") is { } g) adapter.Gate!.fill_(g);
            var call = new UNetCallContext
            {
                AudioContext = c.HasInput("audio_context") ? c.Input("audio_context") : null,
                AudioScale = c.Param("beta") ?? 1.0,
            };
            var output = block.forward(c.Input("hidden_states"), c.Input("encoder_hidden_states"), call);
            c.AssertAll(new Dictionary<string, Tensor> { ["out"] = output });
        }
    }

    [Fact]
    public void ASecondExtensionOrClashingNameIsRejected()
    {
        using var block = new BasicTransformerBlock(16, 2, 8, 8);
        block.SetExtension(new TestGatedAdapter(8));
        Assert.Throws<InvalidOperationException>(() => block.SetExtension(new TestGatedAdapter(8)));
        Assert.Throws<SonicDiffusion.Core.SonicException>(() => block.AddChild("attn1", nn.Linear(2, 2)));
        Assert.Throws<SonicDiffusion.Core.SonicException>(() => block.AddParameter("gate_adapter", new TorchSharp.Modules.Parameter(zeros(1))));
    }
}
