using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.Evaluation;
using SonicDiffusion.Sharding;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;

namespace SonicDiffusion.Tests;

/// <summary>Shard selection (--shard, Slurm and Kubernetes variables), done-lists, feature statistics and the shard merge.</summary>
public class ShardingTests
{
    private static Func<string, string?> Env(params (string Key, string Value)[] vars)
    {
        var d = vars.ToDictionary(v => v.Key, v => v.Value);
        return k => d.GetValueOrDefault(k);
    }

    [Fact]
    public void ShardOptionParsesAndRefusesOutOfRangeValues()
    {
        var s = ShardSpec.Parse("2/5");
        Assert.Equal((2, 5), (s.Index, s.Count));
        Assert.Equal([2, 7, 12], s.Items(15));
        Assert.Contains("shard index 3 is out of range 0..2", Assert.Throws<SonicException>(() => ShardSpec.Parse("3/3")).Message);
        Assert.Contains("--shard 0/0", Assert.Throws<SonicException>(() => ShardSpec.Parse("0/0")).Message);
        Assert.Contains("expected I/N", Assert.Throws<SonicException>(() => ShardSpec.Parse("1of3")).Message);
        Assert.Contains("expected I/N", Assert.Throws<SonicException>(() => ShardSpec.Parse("-1/3")).Message);
        Assert.Contains("--shard 1/3 and --shards 4 disagree", Assert.Throws<SonicException>(() => ShardSpec.Resolve("1/3", 4, Env())).Message);
    }

    [Fact]
    public void EveryItemBelongsToExactlyOneShardWhateverTheCount()
    {
        foreach (int n in new[] { 1, 2, 3, 7 })
        {
            var owners = Enumerable.Range(0, 50).Select(k => Enumerable.Range(0, n).Single(i => new ShardSpec(i, n, "").Owns(k))).ToList();
            Assert.Equal(Enumerable.Range(0, 50).Select(k => k % n), owners);
            Assert.Equal(Enumerable.Range(0, 50), Enumerable.Range(0, n).SelectMany(i => new ShardSpec(i, n, "").Items(50)).Order());
        }
    }

    [Fact]
    public void SlurmArrayVariablesGiveTheShardAndSayWhereItCameFrom()
    {
        var s = ShardSpec.Resolve(null, null, Env(("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_MIN", "4"), ("SLURM_ARRAY_TASK_MAX", "6")));
        Assert.Equal((1, 3), (s.Index, s.Count));
        Assert.Contains("SLURM_ARRAY_TASK_ID=5", s.ToString());
        s = ShardSpec.Resolve(null, null, Env(("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "4")));
        Assert.Equal((2, 4), (s.Index, s.Count));
        s = ShardSpec.Resolve(null, 3, Env(("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_MAX", "2"), ("SLURM_ARRAY_TASK_COUNT", "3")));
        Assert.Equal((0, 3), (s.Index, s.Count));
        // --shard wins over the environment.
        Assert.Equal((1, 2), ShardSpec.Resolve("1/2", null, Env(("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_COUNT", "3"))) is var w ? (w.Index, w.Count) : default);
        Assert.Same(ShardSpec.Whole, ShardSpec.Resolve(null, null, Env()));
    }

    [Fact]
    public void DisagreeingOrIncompleteEnvironmentIsRefusedWithTheValues()
    {
        string Error(string? shard, int? shards, params (string, string)[] vars) => Assert.Throws<SonicException>(() => ShardSpec.Resolve(shard, shards, Env(vars))).Message;
        Assert.Contains("SLURM_ARRAY_TASK_MIN=0, SLURM_ARRAY_TASK_MAX=10 and SLURM_ARRAY_TASK_COUNT=6 disagree",
            Error(null, null, ("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_MIN", "0"), ("SLURM_ARRAY_TASK_MAX", "10"), ("SLURM_ARRAY_TASK_COUNT", "6")));
        Assert.Contains("SLURM_ARRAY_TASK_ID=1 and JOB_COMPLETION_INDEX=2 are both set", Error(null, 3, ("SLURM_ARRAY_TASK_ID", "1"), ("JOB_COMPLETION_INDEX", "2")));
        Assert.Contains("JOB_COMPLETION_INDEX=2 is set but not the shard count", Error(null, null, ("JOB_COMPLETION_INDEX", "2")));
        Assert.Contains("shard index 3 is out of range 0..2", Error(null, 3, ("JOB_COMPLETION_INDEX", "3")));
        Assert.Contains("JOB_COMPLETION_INDEX=x: not an integer", Error(null, 3, ("JOB_COMPLETION_INDEX", "x")));
        Assert.Contains("--shards 4 disagrees with the Slurm array's 3 tasks", Error(null, 4, ("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_COUNT", "3")));
        Assert.Contains("without SLURM_ARRAY_TASK_MIN", Error(null, null, ("SLURM_ARRAY_TASK_ID", "0")));
        Assert.Contains("--shards 3: no shard index", Error(null, 3));
        var k = ShardSpec.Resolve(null, 3, Env(("JOB_COMPLETION_INDEX", "2")));
        Assert.Equal((2, 3), (k.Index, k.Count));
        Assert.Contains("JOB_COMPLETION_INDEX=2", k.Source);
    }

    [Fact]
    public void DoneListSurvivesATornLastLineAndKeepsAppending()
    {
        using var tmp = new TempDir();
        string path = tmp.File("d/list.jsonl");
        using (var d = DoneList.Open(path))
        {
            d.Add(new JsonObject { ["key"] = "a", ["v"] = 1 });
            d.Add(new JsonObject { ["key"] = "b", ["v"] = 2 });
        }
        File.AppendAllText(path, "{\"key\":\"c\",\"v\"");          // a process killed while writing
        using (var d = DoneList.Open(path))
        {
            Assert.Equal(["a", "b"], d.Entries.Keys.Order());
            d.Add(new JsonObject { ["key"] = "c", ["v"] = 3 });
        }
        Assert.Equal(["a", "b", "c"], DoneList.Read(path).Select(e => e["key"]!.GetValue<string>()));
        File.WriteAllText(path, "not json\n");
        Assert.Contains("line 1 is not a done-list entry", Assert.Throws<SonicException>(() => DoneList.Open(path)).Message);
    }

    private static double[][] Features(int n, int d, int seed, double shift)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, d).Select(j => shift + r.NextDouble() * (1 + j % 3) + (j > 0 ? 0.3 * r.NextDouble() : 0)).ToArray()).ToArray();
    }

    [Fact]
    public void MergedFeatureStatisticsGiveTheUnshardedFrechetDistance()
    {
        var a = Features(41, 6, 1, 0.0);
        var b = Features(37, 6, 2, 0.4);
        double whole = FrechetDistance.Compute(a, b);
        var sa = new FeatureStatistics(6);
        var sb = new FeatureStatistics(6);
        for (int shard = 0; shard < 3; shard++)
        {
            var pa = new FeatureStatistics(6);
            var pb = new FeatureStatistics(6);
            for (int k = shard; k < a.Length; k += 3) pa.Add(a[k]);
            for (int k = shard; k < b.Length; k += 3) pb.Add(b[k]);
            sa.Add(pa);
            sb.Add(pb);
        }
        Assert.Equal(41, sa.Count);
        double merged = FeatureStatistics.Frechet(sa, sb);
        Assert.True(whole > 0.1, $"distance {whole} too small to test");
        Assert.Equal(whole, merged, 1e-9 * whole);
        var (mean, cov) = sa.Gaussian();
        using var t = torch.tensor(a.SelectMany(x => x).ToArray(), [41, 6], dtype: torch.ScalarType.Float64);
        var (m2, c2) = FrechetDistance.Fit(t);
        Assert.True(mean.allclose(m2, 1e-12, 1e-12) && cov.allclose(c2, 1e-10, 1e-12));
    }

    private static ShardResult Part(int shard, int shards, int total, JsonObject? settings = null, int dim = 3)
    {
        var items = Enumerable.Range(0, total).Where(k => k % shards == shard)
            .Select(k => new ItemResult(k, $"item{k}", new Dictionary<string, double> { ["aic"] = k % 2, ["x"] = k, ["y"] = k * k })).ToList();
        var gen = new FeatureStatistics(dim);
        var refs = new FeatureStatistics(dim);
        var all = Features(total, dim, 5, 0);
        var other = Features(total, dim, 6, 0.5);
        foreach (var i in items) { gen.Add(all[i.Index]); refs.Add(other[i.Index]); }
        return new ShardResult
        {
            Protocol = "test", Settings = settings ?? new JsonObject { ["model"] = "m", ["options"] = new JsonObject { ["steps"] = 2 } },
            Shard = shard, Shards = shards, TotalItems = total, Items = items,
            FeatureSets = new Dictionary<string, FeatureStatistics> { ["gen"] = gen, ["ref"] = refs },
            Fid = new Dictionary<string, (string, string)> { ["fid"] = ("gen", "ref") },
            Correlations = new Dictionary<string, (string, string)> { ["rho"] = ("x", "y") },
        };
    }

    [Fact]
    public void MergeOfShardResultsEqualsTheWholeAndWritesMergedJson()
    {
        using var tmp = new TempDir();
        for (int i = 0; i < 3; i++) Part(i, 3, 10).Write(tmp.Path);
        Part(0, 1, 10).Write(tmp.File("whole"));
        var merged = ShardMerge.Merge([tmp.Path]);
        var whole = ShardMerge.Merge([tmp.File("whole")]);
        Assert.Equal(Enumerable.Range(0, 10), merged.Items.Select(i => i.Index));
        Assert.Equal(0.5, merged.Scores["aic"].Mean);
        Assert.Equal(10, merged.Scores["aic"].Count);
        Assert.Equal(1.0, merged.Correlations["rho"]!.Value, 12);
        Assert.Equal(whole.Fid["fid"]!.Value, merged.Fid["fid"]!.Value, 1e-9);
        var twoD = FrechetDistance.Compute(Features(10, 3, 5, 0), Features(10, 3, 6, 0.5));
        Assert.Equal(twoD, merged.Fid["fid"]!.Value, 1e-9 * twoD);
        string path = merged.Write(tmp.Path);
        var json = JsonNode.Parse(File.ReadAllText(path))!;
        Assert.Equal(0.5, json["scores"]!["aic"]!["mean"]!.GetValue<double>());
    }

    [Fact]
    public void MergeRefusesMissingForeignAndDuplicateShardsNamingThem()
    {
        using var tmp = new TempDir();
        Part(0, 3, 10).Write(tmp.File("a"));
        Part(2, 3, 10).Write(tmp.File("a"));
        var e = Assert.Throws<SonicException>(() => ShardMerge.Merge([tmp.File("a")]));
        Assert.Contains("missing shard 1 of 3", e.Message);
        Assert.Contains("shard-1-of-3.json", e.Message);

        Part(1, 3, 10, new JsonObject { ["model"] = "other", ["options"] = new JsonObject { ["steps"] = 2 } }).Write(tmp.File("b"));
        e = Assert.Throws<SonicException>(() => ShardMerge.Merge([tmp.File("a"), tmp.File("b")]));
        Assert.Contains("different runs: model: \"other\" vs \"m\"", e.Message);

        Part(1, 3, 10, new JsonObject { ["model"] = "m", ["options"] = new JsonObject { ["steps"] = 5 } }).Write(tmp.File("c"));
        Assert.Contains("options.steps: 5 vs 2", Assert.Throws<SonicException>(() => ShardMerge.Merge([tmp.File("a"), tmp.File("c")])).Message);

        Part(1, 4, 10).Write(tmp.File("d"));
        Assert.Contains("one of 4 shards", Assert.Throws<SonicException>(() => ShardMerge.Merge([tmp.File("a"), tmp.File("d")])).Message);

        Part(1, 3, 10).Write(tmp.File("e"));
        Part(1, 3, 10).Write(tmp.File("f"));
        Assert.Contains("shard 1 of 3 is given twice", Assert.Throws<SonicException>(() => ShardMerge.Merge([tmp.File("a"), tmp.File("e"), tmp.File("f")])).Message);
        Directory.CreateDirectory(tmp.File("empty"));
        Assert.Contains("no shard results", Assert.Throws<SonicException>(() => ShardMerge.Merge([tmp.File("empty")])).Message);
        File.WriteAllText(tmp.File("e/shard-1-of-3.json"), "{\"format\": 3}");
        Assert.Contains("not a shard result", Assert.Throws<SonicException>(() => ShardMerge.Merge([tmp.File("a"), tmp.File("e")])).Message);
    }
}
