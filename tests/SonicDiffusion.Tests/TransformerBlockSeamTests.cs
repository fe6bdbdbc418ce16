using SonicDiffusion.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>The block-extension seam: one extension per block, no name clashes (parity: <see cref="GatedAudioAttentionTests"/>).</summary>
public class TransformerBlockSeamTests
{
    [Fact]
    public void ASecondExtensionOrClashingNameIsRejected()
    {
        using var block = new BasicTransformerBlock(16, 2, 8, 8);
        block.SetExtension(new GatedAudioAttention("", 8));
        Assert.Throws<InvalidOperationException>(() => block.SetExtension(new GatedAudioAttention("", 8)));
        Assert.Throws<SonicDiffusion.Core.SonicException>(() => block.AddChild("attn1", nn.Linear(2, 2)));
        Assert.Throws<SonicDiffusion.Core.SonicException>(() => block.AddParameter("gate_adapter", new TorchSharp.Modules.Parameter(zeros(1))));
    }
}
