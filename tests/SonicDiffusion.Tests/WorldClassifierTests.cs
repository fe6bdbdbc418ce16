using SonicDiffusion.Core;
using SonicDiffusion.Evaluation;
using SonicDiffusion.Tests.Infrastructure;
using SonicDiffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>The evaluation classifier: training on the 27-sample world, export/load, augmentation.</summary>
public class WorldClassifierTests(SmallWorldFixture world) : IClassFixture<SmallWorldFixture>
{
    public static WorldClassifierConfig TinyModel => new() { InputSize = 32, Channels = [8, 16, 16], Depths = [1, 1, 1], NormGroups = 4, FeatureDim = 16 };

    public static ClassifierTrainingOptions TinyOptions => new() { Model = TinyModel, MaxShift = 2 };

    [Fact]
    public void LossDecreasesAndTheExportPredictsLikeTheTrainedModel()
    {
        using var tmp = new TempDir();
        var train = world.Manifest.Rows.Where(r => r.Split != "val").ToList();
        var val = world.Manifest.Rows.Where(r => r.Split == "val").ToList();
        using var images = ImageCache.LoadOrBuild(world.Manifest, train, 32, tmp.File("cache"));
        using var validation = ImageCache.LoadOrBuild(world.Manifest, val, 32, tmp.File("cache"));
        torch.manual_seed(5);
        var logs = new List<string>();
        using var task = new ClassifierTrainingTask(images, validation, TinyOptions with { ColourProbability = 0.2 }, logs.Add);
        var config = new TrainingConfig { Seed = 1, TotalSteps = 60, BatchSize = 9, LearningRate = 1e-2, CheckpointEvery = 30, PlotLoss = false };
        using var trainer = new Trainer(task, config, tmp.File("run"));
        trainer.Run();

        var m = trainer.Metrics;
        double first = m.Take(8).Average(e => e.Parts["ce"]), last = m.TakeLast(8).Average(e => e.Parts["ce"]);
        Assert.True(last < 0.75 * first, $"classifier cross-entropy did not decrease: first 8 steps {first:G4}, last 8 {last:G4}");
        Assert.Equal(2, File.ReadAllLines(Path.Combine(tmp.Path, "run", ClassifierTrainingTask.ValidationFile)).Length);
        Assert.Contains(logs, l => l.Contains("held-out accuracy"));
        Assert.NotNull(task.LastValidation);

        task.Export(trainer, tmp.File("classifier"), ScalarType.Float32);
        using var loaded = WorldClassifier.Load(tmp.File("classifier"));
        Assert.Equal(task.Classifier.Config.Labels, loaded.Config.Labels);
        using var x = images.Batch([0, 1, 2]).add(1).div(2);
        using var a = task.Classifier.Predict(x);
        using var b = loaded.Predict(x);
        Assert.True((a.Logits - b.Logits).abs().max().item<float>() < 1e-5f);
        Assert.True((a.Intensity - b.Intensity).abs().max().item<float>() < 1e-5f);
        Assert.Equal(new long[] { 3, 16 }, b.Features.shape);
        Assert.Equal(new long[] { 3, 9 }, b.Logits.shape);

        task.Export(trainer, tmp.File("fp16"));
        long bytes = new FileInfo(Path.Combine(tmp.Path, "fp16", WorldClassifier.WeightsFile)).Length;
        Assert.True(bytes < new FileInfo(Path.Combine(tmp.Path, "classifier", WorldClassifier.WeightsFile)).Length * 0.6);
        using var half = WorldClassifier.Load(tmp.File("fp16"));
        using var c = half.Predict(x);
        Assert.True((a.Logits - c.Logits).abs().max().item<float>() < 0.05f);
    }

    [Fact]
    public void AugmentationIsSeededAndKeepsTheRange()
    {
        using var tmp = new TempDir();
        using var images = ImageCache.LoadOrBuild(world.Manifest, world.Manifest.Rows, 32, tmp.File("cache"));
        using var task = new ClassifierTrainingTask(images, null, TinyOptions with { ColourProbability = 1 }, null);
        using var x = images.Batch([0, 1, 2, 3]).add(1).div(2);
        using var g1 = new Generator(7);
        using var g2 = new Generator(7);
        using var a = task.Augment(x, g1);
        using var b = task.Augment(x, g2);
        Assert.True(a.equal(b).all().item<bool>());
        Assert.Equal(x.shape, a.shape);
        Assert.True(a.min().item<float>() >= 0 && a.max().item<float>() <= 1);
        Assert.True((a - x).abs().mean().item<float>() > 0.02f, "colour augmentation with probability 1 must change the images");
    }

    [Fact]
    public void UnknownLabelsAndBadFoldersAreOneLineErrors()
    {
        var e = Assert.Throws<SonicException>(() => ClassifierTrainingTask.LabelIndices(["raining", "violin"], new WorldClassifierConfig(), "m.jsonl"));
        Assert.Contains("'violin'", e.Message);
        using var tmp = new TempDir();
        Assert.Contains("not found", Assert.Throws<SonicException>(() => WorldClassifier.Load(tmp.File("none"))).Message);
        Assert.Throws<SonicException>(() => new WorldClassifierConfig { InputSize = 30 }.Validate());
    }
}
