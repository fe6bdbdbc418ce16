using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Tests.Infrastructure;
using SonicDiffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>
/// A seeded result depends on the seed alone: not on whether the data caches existed, on what ran earlier in the
/// process, or on the number of worker threads.
/// </summary>
public class RandomStreamsTests
{
    [Fact]
    public void StreamsDependOnSeedAndPurposeOnly()
    {
        Assert.Equal(RandomStreams.Derive(3, "adapters"), RandomStreams.Derive(3, "adapters"));
        Assert.NotEqual(RandomStreams.Derive(3, "adapters"), RandomStreams.Derive(3, "projector"));
        Assert.NotEqual(RandomStreams.Derive(3, "adapters"), RandomStreams.Derive(4, "adapters"));
        using var a = RandomStreams.Create(3, "noise");
        using var b = RandomStreams.Create(3, "noise");
        using var x = torch.randn([8], generator: a);
        using var y = torch.randn([8], generator: b);
        Assert.True(x.equal(y).all().item<bool>());
    }

    [Fact]
    public void InitScopeGivesTheSameWeightsWhateverRanBeforeAndRestoresTheGlobalGenerator()
    {
        Tensor Init()
        {
            using var _ = RandomStreams.InitScope(3, "test init");
            using var layer = nn.Linear(5, 4);
            return layer.weight!.detach().clone();
        }
        torch.manual_seed(1);
        using var first = Init();
        using (torch.randn([1000])) { }                       // other work drew from the global generator
        using var second = Init();
        Assert.True(first.equal(second).all().item<bool>());

        torch.manual_seed(77);
        using var expected = torch.rand([4]);
        torch.manual_seed(77);
        using (Init()) { }
        using var after = torch.rand([4]);
        Assert.True(expected.equal(after).all().item<bool>(), "the scope did not restore the global generator");
    }

    [Fact]
    public void TrainingGivesTheSameWeightsWhateverRanBeforeInTheProcess()
    {
        Dictionary<string, Tensor> Train(int drawsBefore)
        {
            using var dir = new TempDir();
            torch.manual_seed(drawsBefore);
            using (torch.randn([drawsBefore + 1])) { }
            using var task = new TinyTrainingTask();
            using var trainer = new Trainer(task, TinyTrainingTask.DefaultConfig(6) with { CheckpointEvery = 1000 }, dir.Path);
            trainer.Run();
            return task.Model.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());
        }
        var a = Train(0);
        var b = Train(12345);
        foreach (var (name, t) in a) Assert.True(t.equal(b[name]).all().item<bool>(), $"{name} differs");
    }
}

[Collection("Console")]
public class TrainingDeterminismTests(StageWorldFixture world) : IClassFixture<StageWorldFixture>
{
    private static Dictionary<string, Tensor> Weights(string safetensors)
    {
        using var f = SafetensorsFile.Open(safetensors);
        return f.ReadAll().ToDictionary(kv => kv.Key, kv => kv.Value.clone());
    }

    [Fact]
    public void Stage2SeedGivesTheSameWeightsWhetherTheCachesWereBuiltOrFound()
    {
        using var tmp = new TempDir();
        string[] Args(string run) => ["train", "stage2", "--data", world.Manifest.FilePath, "--model", world.Bundle, "--cache", tmp.File("cache"), "--out", tmp.File(run),
            "--fresh-projector", "--steps", "1", "--batch", "2", "--sites", "last:2", "--seed", "3", "--lr-schedule", "constant", "--name", "t"];
        var (code, output, err) = CliTests.Sonic(Args("built"));          // builds the CLAP, token, image and latent caches in-process
        Assert.True(code == 0, err + output);
        Assert.Contains("CLAP cache: wrote", output);
        (code, output, err) = CliTests.Sonic(Args("found"));               // finds them on disk
        Assert.True(code == 0, err + output);
        Assert.DoesNotContain("cache: wrote", output);
        using (torch.randn([4096])) { }
        (code, output, err) = CliTests.Sonic(Args("after-other-work"));
        Assert.True(code == 0, err + output);

        foreach (var part in new[] { SonicDiffusionModel.AdaptersFolder, SonicDiffusionModel.AudioProjectorFolder })
        {
            var built = Weights(ExportedWeights(tmp.File("built"), part));
            foreach (var other in new[] { "found", "after-other-work" })
            {
                var w = Weights(ExportedWeights(tmp.File(other), part));
                Assert.Equal(built.Keys.Order(), w.Keys.Order());
                foreach (var (name, t) in built) Assert.True(t.equal(w[name]).all().item<bool>(), $"{part} {name}: the '{other}' run differs from the run that built the caches");
            }
        }
    }

    private static string ExportedWeights(string run, string part) =>
        StableDiffusionComponents.FindWeights(Path.Combine(run, "export", "bundle", part));

    [Fact]
    public void ImageCacheIsTheSameWithOneOrTwoWorkers()
    {
        using var tmp = new TempDir();
        using var one = ImageCache.LoadOrBuild(world.Manifest, world.Rows, 32, tmp.File("one"), threads: 1);
        using var two = ImageCache.LoadOrBuild(world.Manifest, world.Rows, 32, tmp.File("two"), threads: 2);
        Assert.True(File.ReadAllBytes(one.FilePath).SequenceEqual(File.ReadAllBytes(two.FilePath)));
    }
}
