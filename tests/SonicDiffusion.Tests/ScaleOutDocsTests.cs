using SonicDiffusion.Tests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace SonicDiffusion.Tests;

/// <summary>docs/scale-out.md's Kubernetes Indexed Job: parsed with a YAML library, and its container command run as the Job controller would.</summary>
[Collection("Console")]
public class ScaleOutDocsTests(ShardedJobFixture f) : IClassFixture<ShardedJobFixture>
{
    private static YamlMappingNode Map(YamlNode n, string key) => (YamlMappingNode)((YamlMappingNode)n).Children[new YamlScalarNode(key)];
    private static string Scalar(YamlNode n, string key) => ((YamlScalarNode)((YamlMappingNode)n).Children[new YamlScalarNode(key)]).Value!;
    private static YamlSequenceNode Seq(YamlNode n, string key) => (YamlSequenceNode)((YamlMappingNode)n).Children[new YamlScalarNode(key)];

    private static YamlMappingNode Job()
    {
        var yaml = new YamlStream();
        yaml.Load(new StringReader(Assert.Single(ScaleOutRecipes.Blocks("yaml"))));
        var job = (YamlMappingNode)Assert.Single(yaml.Documents).RootNode;
        Assert.Equal("batch/v1", Scalar(job, "apiVersion"));
        Assert.Equal("Job", Scalar(job, "kind"));
        return job;
    }

    [Fact]
    public void ManifestIsAnIndexedJobWithASharedVolumeAndMatchingShardCount()
    {
        var spec = Map(Job(), "spec");
        Assert.Equal("Indexed", Scalar(spec, "completionMode"));
        var pod = Map(Map(spec, "template"), "spec");
        var container = (YamlMappingNode)Assert.Single(Seq(pod, "containers"));
        var env = Seq(container, "env").Cast<YamlMappingNode>().ToDictionary(e => Scalar(e, "name"), e => Scalar(e, "value"));
        Assert.Equal(Scalar(spec, "completions"), env["SHARDS"]);
        Assert.Equal(Scalar(spec, "completions"), Scalar(spec, "parallelism"));
        Assert.Contains(Scalar(pod, "restartPolicy"), new[] { "OnFailure", "Never" });
        var mount = (YamlMappingNode)Assert.Single(Seq(container, "volumeMounts"));
        var volume = (YamlMappingNode)Assert.Single(Seq(pod, "volumes"));
        Assert.Equal(Scalar(mount, "name"), Scalar(volume, "name"));
        Assert.NotEmpty(Scalar(Map(volume, "persistentVolumeClaim"), "claimName"));
        foreach (var path in new[] { "MODEL", "DATA", "OUT" }) Assert.StartsWith(Scalar(mount, "mountPath") + "/", env[path]);
        string script = ((YamlScalarNode)Seq(container, "args")[0]).Value!;
        Assert.Contains("--shards \"$SHARDS\"", script);
        Assert.Contains("$SONIC generate", script);
        Assert.Contains("$SONIC eval", script);
    }

    [Fact]
    public void ContainerCommandRunAsTheJobControllerWouldMergesToTheUnshardedRun()
    {
        var spec = Map(Job(), "spec");
        var container = (YamlMappingNode)Assert.Single(Seq(Map(Map(spec, "template"), "spec"), "containers"));
        var command = Seq(container, "command").Cast<YamlScalarNode>().Select(s => s.Value!).ToList();
        var args = Seq(container, "args").Cast<YamlScalarNode>().Select(s => s.Value!).ToList();
        var env = Seq(container, "env").Cast<YamlMappingNode>().ToDictionary(e => Scalar(e, "name"), e => Scalar(e, "value"));
        int shards = int.Parse(Scalar(spec, "completions"));
        using var tmp = new TempDir();
        // The volume's paths are this test's files; the image's `sonic` is this build's CLI.
        env["SONIC"] = ScaleOutRecipes.SonicCommand;
        env["MODEL"] = f.Bundle;
        env["DATA"] = f.RecipeManifest;
        env["OUT"] = tmp.File("run");
        env["STEPS"] = ScaleOutRecipes.Steps;
        env["COUNT"] = ScaleOutRecipes.Count;
        env["SEED"] = ScaleOutRecipes.Seed;
        env["OMP_NUM_THREADS"] = "1";
        for (int index = 0; index < shards; index++)
        {
            env["JOB_COMPLETION_INDEX"] = index.ToString();
            var (code, output, err) = LocalSlurm.Run("/usr/bin/env", [.. command, .. args], TimeSpan.FromMinutes(3), env);
            Assert.True(code == 0, $"pod {index} exited {code}: {output}\n{err}");
            Assert.Contains($"shard {index}/{shards} (JOB_COMPLETION_INDEX={index}, --shards {shards})", output);
        }
        ScaleOutRecipes.AssertSameAsUnsharded(tmp.File("run"), f.Unsharded, shards);
    }
}
