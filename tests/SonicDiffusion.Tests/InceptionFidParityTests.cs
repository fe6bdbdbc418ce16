using System.Text.Json.Nodes;
using SonicDiffusion.Evaluation;
using SonicDiffusion.Models;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>pytorch-fid's InceptionV3 features and FID (fixtures of kind <c>inception_fid</c>).</summary>
public class InceptionFidParityTests
{
    public static TheoryData<string> Cases => GoldenFixture.CaseIds("inception_fid");

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesReference(string id)
    {
        var (f, c) = GoldenFixture.Resolve(id);
        using var noGrad = torch.no_grad();
        using var scope = torch.NewDisposeScope();
        switch (c.Op)
        {
            case "features":
                {
                    using var model = FidInceptionV3.Load(f.PathOf((string)f.Weights[0]!["file"]!));
                    Assert.Equal(f.ConfigInt("width_divisor"), model.WidthDivisor);
                    var blocks = new List<Tensor>();
                    var features = model.Features(c.Input("images"), blocks);
                    var debug = blocks.Select((b, i) => ($"block{i}", b)).ToDictionary(x => x.Item1, x => x.b);
                    c.AssertAll(new Dictionary<string, Tensor> { ["features"] = features }, debug);
                    Assert.All(c.DebugRoles, r => Assert.Contains(r, debug.Keys));
                    return;
                }
            case "fid":
                {
                    using var a = new FeatureMoments(c.Input("features_a").shape[1]);
                    using var b = new FeatureMoments(a.Dim);
                    var fa = c.Input("features_a");
                    // two halves added separately: the sharded path must give the same statistics
                    a.Add(fa.narrow(0, 0, 2));
                    using (var rest = new FeatureMoments(a.Dim)) { rest.Add(fa.narrow(0, 2, fa.shape[0] - 2)); a.Merge(rest); }
                    b.Add(c.Input("features_b"));
                    var (mu, sigma) = a.MeanAndCovariance("a");
                    double fid = FeatureMoments.Fid(a, b);
                    c.AssertAll(new Dictionary<string, Tensor> { ["fid"] = torch.tensor(new[] { fid }), ["mu_a"] = mu, ["sigma_a"] = sigma });
                    return;
                }
            default:
                throw new InvalidOperationException($"{id}: unknown op {c.Op}");
        }
    }

    [Fact]
    public void RealInceptionHasThePtInceptionLayout()
    {
        var f = GoldenFixture.Get("inception_fid_tiny");
        var keys = ((JsonObject)JsonNode.Parse(File.ReadAllText(f.PathOf("pt_inception_keys.json")))!["keys"]!)
            .ToDictionary(kv => kv.Key, kv => ((JsonArray)kv.Value!).Select(x => (long)x!).ToArray());
        using var model = new FidInceptionV3();
        var ours = model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.shape);
        var expected = keys.Where(kv => !kv.Key.StartsWith("fc.", StringComparison.Ordinal)).ToDictionary();
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), ours.Keys.Order(StringComparer.Ordinal));
        foreach (var (k, s) in expected) Assert.Equal(s, ours[k]);
    }

    [Fact]
    public void MomentsSurviveSaveAndLoad()
    {
        using var m = new FeatureMoments(3);
        using var x = torch.tensor(new float[] { 1, 2, 3, 4, 5, 7, -1, 0, 2 }).reshape(3, 3);
        m.Add(x);
        var path = Path.Combine(Path.GetTempPath(), $"moments-{Guid.NewGuid():N}.safetensors");
        try
        {
            m.Save(path);
            using var back = FeatureMoments.Load(path);
            Assert.Equal(3, back.Count);
            Assert.True(back.Outer.allclose(m.Outer, 0, 0));
            var (mean, cov) = back.MeanAndCovariance("x");
            using (mean) using (cov)
            {
                Assert.Equal(4.0 / 3, mean[0].item<double>(), 12);
                Assert.Equal(19.0 / 3, cov[0, 0].item<double>(), 12);   // var(1, 4, −1) with N − 1: (1 + 64 + 49) / 9 / 2
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
