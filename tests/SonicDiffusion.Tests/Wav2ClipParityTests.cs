using System.Text.Json.Nodes;
using SonicDiffusion.Models;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>Wav2CLIP's audio encoder against the Wav2CLIP repository's code (fixtures of kind <c>wav2clip</c>).</summary>
public class Wav2ClipParityTests
{
    public static TheoryData<string> Cases => GoldenFixture.CaseIds("wav2clip");

    [Theory]
    [MemberData(nameof(Cases))]
    public void EmbedMatchesReference(string id)
    {
        var (f, c) = GoldenFixture.Resolve(id);
        Assert.Equal("embed", c.Op);
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        using var model = Wav2Clip.Load(f.PathOf((string)f.Weights[0]!["file"]!));
        Assert.Equal(f.ConfigInt("width_divisor"), model.WidthDivisor);
        var wave = c.Input("waveform");
        var rows = Enumerable.Range(0, (int)wave.shape[0]).Select(i => model.Embed(wave[i])).ToArray();
        c.AssertAll(new Dictionary<string, Tensor> { ["embedding"] = torch.cat(rows, 0) });
    }

    [Fact]
    public void RealCheckpointLayoutMatches()
    {
        var f = GoldenFixture.Get("wav2clip_tiny");
        var keys = ((JsonObject)JsonNode.Parse(File.ReadAllText(f.PathOf("wav2clip_keys.json")))!["keys"]!)
            .ToDictionary(kv => kv.Key, kv => ((JsonArray)kv.Value!).Select(x => (long)x!).ToArray());
        using var model = new Wav2Clip();
        var ours = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);
        Assert.Equal(keys.Keys.Order(StringComparer.Ordinal), ours.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, s) in keys) Assert.Equal(s, ours[k]);
    }

    [Fact]
    public void PaperClipIsPaddedOrCutTo442763Samples()
    {
        using var shortClip = torch.ones(1000);
        using var longClip = torch.ones(500_000);
        using var a = Wav2Clip.PadOrCut(shortClip);
        using var b = Wav2Clip.PadOrCut(longClip);
        Assert.Equal(442_763, a.shape[0]);
        Assert.Equal(442_763, b.shape[0]);
        Assert.Equal(1000.0, a.sum().item<float>());
    }
}
