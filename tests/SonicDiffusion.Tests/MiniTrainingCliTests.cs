using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Tests.Infrastructure;
using SonicDiffusion.Training;

namespace SonicDiffusion.Tests;

/// <summary><c>sonic train vae</c> end to end: a run stopped at step 4 and resumed to step 8 equals an uninterrupted 8-step run.</summary>
[Collection("Console")]
public class MiniTrainingCliTests(SmallWorldFixture world) : IClassFixture<SmallWorldFixture>
{
    private static string[] Args(string manifest, string run, string cache, string config, int steps, bool resume)
    {
        var args = new List<string> { "train", "vae", "--data", manifest, "--out", run, "--cache", cache, "--config", config,
            "--steps", steps.ToString(), "--batch", "3", "--split", "val", "--checkpoint-every", "2", "--seed", "5" };
        if (resume) args.Add("--resume");
        return args.ToArray();
    }

    [Fact]
    public void TrainVaeResumesThroughTheCommandLine()
    {
        using var tmp = new TempDir();
        string config = tmp.File("vae-options.json");
        ConfigJson.Write(config, MiniTrainingTests.TinyVae with { CropSize = 16 });
        string manifest = world.Summary.ManifestPath, cache = tmp.File("cache");

        var (code, output, err) = CliTests.Sonic(Args(manifest, tmp.File("a"), cache, config, 4, resume: false));
        Assert.True(code == 0, err);
        Assert.Contains("exported", output);
        var (refused, _, refusal) = CliTests.Sonic(Args(manifest, tmp.File("a"), cache, config, 8, resume: false));
        Assert.Equal(1, refused);
        Assert.Contains("--resume", refusal);
        (code, output, err) = CliTests.Sonic(Args(manifest, tmp.File("a"), cache, config, 8, resume: true));
        Assert.True(code == 0, err);
        Assert.Contains("resumed from step 4", output);

        (code, _, err) = CliTests.Sonic(Args(manifest, tmp.File("b"), cache, config, 8, resume: false));
        Assert.True(code == 0, err);

        foreach (var file in new[] { "model.safetensors", "optimizer.safetensors", "rng.safetensors" })
        {
            string a = Path.Combine(tmp.Path, "a", Trainer.CheckpointsFolder, TrainingCheckpoint.FolderName(8), file);
            string b = Path.Combine(tmp.Path, "b", Trainer.CheckpointsFolder, TrainingCheckpoint.FolderName(8), file);
            Assert.True(File.ReadAllBytes(a).AsSpan().SequenceEqual(File.ReadAllBytes(b)), $"{file} differs between the resumed and the uninterrupted run");
        }
        using var va = SafetensorsFile.Open(Path.Combine(tmp.Path, "a", "vae", ModelExport.DiffusersWeights));
        using var vb = SafetensorsFile.Open(Path.Combine(tmp.Path, "b", "vae", ModelExport.DiffusersWeights));
        Assert.Equal(va.Names, vb.Names);
        Assert.Equal(File.ReadAllText(Path.Combine(tmp.Path, "a", "vae", "config.json")), File.ReadAllText(Path.Combine(tmp.Path, "b", "vae", "config.json")));
    }
}
