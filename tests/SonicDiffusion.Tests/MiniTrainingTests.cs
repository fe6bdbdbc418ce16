using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Data;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Tests.Infrastructure;
using SonicDiffusion.Text;
using SonicDiffusion.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>The mini-world trainers (VAE, base text-to-image model, CLAP audio encoder) on tiny configs and the 27-sample world.</summary>
public class MiniTrainingTests(SmallWorldFixture world) : IClassFixture<SmallWorldFixture>
{
    public static VaeTrainingOptions TinyVae => new()
    {
        Model = new AutoencoderKLConfig { BlockOutChannels = [8, 8, 16, 16], LayersPerBlock = 1, NormNumGroups = 4, SampleSize = 32 },
        Resolution = 32,
        CropSize = 32,
    };

    public static BaseModelTrainingOptions TinyBase => new()
    {
        Unet = new UNet2DConditionConfig
        {
            SampleSize = 4,
            BlockOutChannels = [16, 32],
            LayersPerBlock = 1,
            DownBlockTypes = ["CrossAttnDownBlock2D", "DownBlock2D"],
            UpBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D"],
            AttentionHeadDim = [2],
            CrossAttentionDim = 16,
            NormNumGroups = 8,
        },
        Text = new ClipTextConfig { HiddenSize = 16, NumHiddenLayers = 1, NumAttentionHeads = 2, IntermediateSize = 32 },
    };

    public static ClapTrainingOptions TinyClap => new()
    {
        FrontEnd = new ClapFrontEndConfig { DurationS = 0.5, NFft = 256, WinLength = 256, HopLength = 128, NMels = 16, Fmin = 50, Fmax = 8000, ComputeFloat64 = false },
        Model = new Cnn14Config { ConvBlockWidths = [4, 8], OutEmb = 8, DProj = 8, ClassesNum = 2, MelBins = 16, WindowSize = 256, HopSize = 128, Fmax = 8000 },
        CropsPerClip = 2,
    };

    private DatasetManifest Manifest => world.Manifest;
    private IReadOnlyList<ManifestRow> Rows => world.Manifest.Rows;

    private static (double First, double Last) FirstAndLast(IReadOnlyList<MetricsEntry> m, int k, string part = "") =>
        (m.Take(k).Average(e => part == "" ? e.Loss : e.Parts[part]), m.TakeLast(k).Average(e => part == "" ? e.Loss : e.Parts[part]));

    private static TrainingConfig Config(long steps, int batch, double lr, double? ema = null) => new()
    {
        Seed = 1, TotalSteps = steps, BatchSize = batch, LearningRate = lr, EmaDecay = ema, CheckpointEvery = steps, PlotLoss = false,
    };

    /// <summary>An untrained tiny VAE written as a vae/ folder (for the latent cache and base-model tests).</summary>
    private static string WriteVae(string dir, long seed)
    {
        torch.manual_seed(seed);
        using var vae = new AutoencoderKL(TinyVae.Model);
        ModelExport.WriteVae(vae, dir, 1.5);
        return dir;
    }

    [Fact]
    public void VaeLossDecreasesAndExportLoads()
    {
        using var tmp = new TempDir();
        using var images = ImageCache.LoadOrBuild(Manifest, Rows, 32, tmp.File("cache"));
        Assert.Equal(Rows.Count, images.Count);
        Assert.Equal(new long[] { Rows.Count, 3, 32, 32 }, images.Images.shape);

        torch.manual_seed(11);
        using var task = new VaeTrainingTask(images, TinyVae);
        using var trainer = new Trainer(task, Config(40, 9, 1e-2), tmp.File("run"));
        trainer.Run();
        var (first, last) = FirstAndLast(trainer.Metrics, 5, "rec");
        Assert.True(last < 0.7 * first, $"VAE reconstruction loss did not decrease: first 5 steps {first:G4}, last 5 {last:G4}");
        Assert.True(File.Exists(Path.Combine(tmp.Path, "run", VaeTrainingTask.PreviewFile)));

        double scaling = task.Export(trainer, tmp.File("vae"), ScalarType.Float32);
        Assert.True(double.IsFinite(scaling) && scaling > 0);
        using var loaded = ModelExport.LoadVae(tmp.File("vae"));
        Assert.Equal(scaling, loaded.Config.ScalingFactor, 12);
        using var x = images.Batch([0, 1]);
        using var a = task.Vae.Encode(x);
        using var b = loaded.EncodeToLatents(x);
        Assert.Equal(0.0, (a.Mean * scaling - b).abs().max().item<float>(), 5);

        using var scope = torch.NewDisposeScope();
        var mean = loaded.Encode(images.Batch(Enumerable.Range(0, Rows.Count).Select(i => (long)i).ToArray())).Mean;
        Assert.Equal(1.0, (mean * scaling).std().item<float>(), 1);
    }

    [Fact]
    public void LatentCacheFollowsTheVaeWeights()
    {
        using var tmp = new TempDir();
        string cache = tmp.File("cache");
        using var images = ImageCache.LoadOrBuild(Manifest, Rows, 32, cache);
        string vaeDir = WriteVae(tmp.File("vae"), seed: 1);
        string first, second;
        Tensor before;
        using (var latents = LatentCache.LoadOrBuild(images, vaeDir, cache))
        {
            Assert.Equal(new long[] { Rows.Count, 2, 4, 4, 4 }, latents.Latents.shape);
            first = latents.FilePath;
            before = latents.Latents.clone();
            using var vae = ModelExport.LoadVae(vaeDir);
            using var x = images.Batch([3]);
            using var z = vae.EncodeToLatents(x);
            using var zf = vae.EncodeToLatents(x.flip(3));
            Assert.True((latents.Latents[3, 0] - z[0]).abs().max().item<float>() < 1e-5f);
            Assert.True((latents.Latents[3, 1] - zf[0]).abs().max().item<float>() < 1e-5f);
            using var picked = latents.Batch([3, 3], torch.tensor(new long[] { 0, 1 }));
            Assert.True((picked[1] - zf[0]).abs().max().item<float>() < 1e-5f);
        }
        var stamp = File.GetLastWriteTimeUtc(first);
        using (var again = LatentCache.LoadOrBuild(images, vaeDir, cache))
        {
            Assert.Equal(first, again.FilePath);
            Assert.Equal(stamp, File.GetLastWriteTimeUtc(first));
        }

        WriteVae(vaeDir, seed: 2);
        using (var changed = LatentCache.LoadOrBuild(images, vaeDir, cache))
        {
            second = changed.FilePath;
            Assert.NotEqual(first, second);
            Assert.True((changed.Latents - before).abs().max().item<float>() > 1e-3, "new VAE weights must give new latents");
        }
        before.Dispose();
    }

    [Fact]
    public void BaseModelLossDecreasesAndExportLoadsInTheProductLoader()
    {
        using var tmp = new TempDir();
        string cache = tmp.File("cache");
        using var images = ImageCache.LoadOrBuild(Manifest, Rows, 32, cache);
        string vaeDir = WriteVae(tmp.File("vae"), seed: 3);
        using var latents = LatentCache.LoadOrBuild(images, vaeDir, cache);
        torch.manual_seed(12);
        using var task = new BaseModelTrainingTask(latents, images.Rows.Select(r => r.Caption).ToList(), vaeDir, TinyBase)
        {
            PreviewPrompts = BaseModelTrainingTask.OneCaptionPerLabel(images.Rows).Take(2).ToList(),
            PreviewSteps = 2,
        };
        Assert.Equal(9, BaseModelTrainingTask.OneCaptionPerLabel(images.Rows).Count);
        using var trainer = new Trainer(task, Config(60, 9, 2e-3, ema: 0.9), tmp.File("run"));
        trainer.Run();
        var (first, last) = FirstAndLast(trainer.Metrics, 10);
        Assert.True(last < 0.8 * first, $"diffusion loss did not decrease: first 10 steps {first:G4}, last 10 {last:G4}");
        Assert.True(File.Exists(Path.Combine(tmp.Path, "run", BaseModelTrainingTask.PreviewFile)));

        task.Export(trainer, tmp.File("model"));
        foreach (var f in new[] { "model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "text_encoder/config.json",
                     "text_encoder/model.safetensors", "vae/config.json", "vae/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json" })
            Assert.True(File.Exists(Path.Combine(tmp.Path, "model", f)), f);
        using var model = StableDiffusionComponents.Load(tmp.File("model"));
        Assert.Equal("scaled_linear", model.Scheduler.BetaSchedule);
        Assert.Equal("PNDMScheduler", model.Scheduler.ClassName);
        Assert.Equal(1.5, model.Vae.Config.ScalingFactor, 12);

        // The export holds the EMA weights, stored as float16.
        using var ema = trainer.Ema!.SwapIn();
        var expected = task.Unet.named_parameters().First(p => p.name == "conv_out.weight").parameter;
        var got = model.Unet.named_parameters().First(p => p.name == "conv_out.weight").parameter;
        Assert.Equal(0.0, (expected.to_type(ScalarType.Float16).to_type(ScalarType.Float32) - got).abs().max().item<float>(), 6);

        var pipeline = new TextToImagePipeline(model);
        using var image = pipeline.Generate(new TextToImageRequest { Prompt = Rows[0].Caption, Steps = 3, Guidance = 3, Width = 32, Height = 32, Seed = 1 });
        Assert.Equal(new long[] { 1, 3, 32, 32 }, image.shape);
        Assert.True(image.isfinite().all().item<bool>());
    }

    /// <summary>A random-weight tiny base model written as a model folder (float32, so a loaded copy is exact).</summary>
    private static string WriteTeacher(string dir, string vaeDir, long seed)
    {
        torch.manual_seed(seed);
        using var unet = new UNet2DConditionModel(TinyBase.Unet);
        using var text = new ClipTextModel(TinyBase.Text);
        ModelExport.WriteStableDiffusion(dir, unet, text, vaeDir, ScalarType.Float32);
        return dir;
    }

    private static Dictionary<string, Tensor> State(torch.nn.Module m) => m.state_dict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone());

    private static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Fact]
    public void DistillationKeepsTheTeachersTextEncoderFrozenAndWarmStartsMatchingTensors()
    {
        using var tmp = new TempDir();
        string cache = tmp.File("cache");
        using var images = ImageCache.LoadOrBuild(Manifest, Rows, 32, cache);
        string vaeDir = WriteVae(tmp.File("vae"), seed: 3);
        using var latents = LatentCache.LoadOrBuild(images, vaeDir, cache);
        var captions = images.Rows.Select(r => r.Caption).ToList();
        string teacherDir = WriteTeacher(tmp.File("teacher"), vaeDir, seed: 5);
        using var teacher = StableDiffusionComponents.Load(teacherDir);
        var teacherUnet = State(teacher.Unet);
        var teacherText = State(teacher.TextEncoder);

        // A narrower first level (8 channels instead of 16), the teacher's time-embedding width so the inner blocks fit.
        var student = TinyBase with
        {
            Unet = TinyBase.Unet with { BlockOutChannels = [8, 32], NormNumGroups = 8, TimeEmbeddingDim = TinyBase.Unet.TimeEmbedDim },
            Teacher = teacherDir,
        };
        torch.manual_seed(12);
        using var task = new BaseModelTrainingTask(latents, captions, vaeDir, student);
        Assert.Equal(["unet"], task.ParameterGroups.Select(g => g.Name));
        Assert.All(task.TextEncoder.parameters(), p => Assert.False(p.requires_grad));
        var init = State(task.Unet);
        int same = 0;
        foreach (var (name, t) in init)
        {
            if (teacherUnet.TryGetValue(name, out var tt) && tt.shape.SequenceEqual(t.shape))
            {
                same++;
                Assert.True(Same(t, tt), $"{name} was not taken from the teacher");
            }
        }
        Assert.InRange(same, 1, init.Count - 1);
        Assert.True(Same(init["down_blocks.1.resnets.0.conv2.weight"], teacherUnet["down_blocks.1.resnets.0.conv2.weight"]));
        Assert.False(init["conv_in.weight"].shape.SequenceEqual(teacherUnet["conv_in.weight"].shape));

        using var trainer = new Trainer(task, Config(4, 9, 1e-3), tmp.File("run"));
        trainer.Run();
        Assert.All(trainer.Metrics, m => Assert.True(m.Parts["distill"] > 0 && m.Parts["mse"] > 0 && Math.Abs(m.Loss - m.Parts["mse"] - m.Parts["distill"]) < 1e-5 * m.Loss));
        foreach (var (name, t) in State(task.TextEncoder)) Assert.True(Same(t, teacherText[name]), $"frozen text encoder tensor {name} changed");
        Assert.False(Same(State(task.Unet)["down_blocks.1.resnets.0.conv2.weight"], teacherUnet["down_blocks.1.resnets.0.conv2.weight"]), "the student did not train");

        // The teacher's own architecture distilled from itself: identical predictions, so the distillation term is exactly 0.
        float twinMse;
        using (var twin = new BaseModelTrainingTask(latents, captions, vaeDir, TinyBase with { Teacher = teacherDir }))
        using (var scope = torch.NewDisposeScope())
        {
            var loss = twin.ComputeLoss(new TrainingBatch(0, 0, [0, 1, 2, 3], new Generator(7)));
            Assert.InRange(loss.Parts!["distill"].item<float>(), 0f, 1e-10f);   // round-off of two identical forward passes
            Assert.Equal(loss.Parts["mse"].item<float>(), loss.Total.item<float>(), 1e-6f);
            twinMse = loss.Parts["mse"].item<float>();
        }

        // Weight 0 = a fine-tune of the teacher on new data: the teacher's UNet is not run, the loss is the same ε-MSE,
        // and it reaches the student's weights.
        using (var tune = new BaseModelTrainingTask(latents, captions, vaeDir, TinyBase with { Teacher = teacherDir, DistillationWeight = 0 }))
        using (var scope = torch.NewDisposeScope())
        {
            var loss = tune.ComputeLoss(new TrainingBatch(0, 0, [0, 1, 2, 3], new Generator(7)));
            Assert.False(loss.Parts!.ContainsKey("distill"));
            Assert.Equal(twinMse, loss.Total.item<float>(), 1e-6f);
            Assert.True(loss.Total.requires_grad, "the fine-tune loss has no gradient path to the UNet");
        }

        // Caption fragments: contiguous spans of 1-4 words, reproducible from the generator; the loss runs with them.
        string caption = "a campfire burning on a sandy beach under a starry sky";
        var words = caption.Split(' ');
        var spans = Enumerable.Range(0, 40).Select(i => BaseModelTrainingTask.CaptionFragment(caption, new Generator((ulong)i))).ToList();
        Assert.All(spans, f =>
        {
            var w = f.Split(' ');
            Assert.InRange(w.Length, 1, BaseModelTrainingOptions.MaxFragmentWords);
            Assert.Contains(Enumerable.Range(0, words.Length - w.Length + 1), st => words.Skip(st).Take(w.Length).SequenceEqual(w));
        });
        Assert.True(spans.Distinct().Count() > 10, "fragments should vary with the generator");
        Assert.Equal(spans[3], BaseModelTrainingTask.CaptionFragment(caption, new Generator(3)));
        Assert.Equal("one", BaseModelTrainingTask.CaptionFragment("one", new Generator(1)));
        using (var fragmentTask = new BaseModelTrainingTask(latents, captions, vaeDir, student with { FragmentProbability = 1 }))
        using (var scope = torch.NewDisposeScope())
        {
            var a = fragmentTask.ComputeLoss(new TrainingBatch(0, 0, [0, 1, 2, 3], new Generator(7)));
            var b = new BaseModelTrainingTask(latents, captions, vaeDir, student with { FragmentProbability = 0 });
            var c = b.ComputeLoss(new TrainingBatch(0, 0, [0, 1, 2, 3], new Generator(7)));
            Assert.True(float.IsFinite(a.Total.item<float>()));
            Assert.NotEqual(c.Parts!["distill"].item<float>(), a.Parts!["distill"].item<float>());
            b.Dispose();
        }
        // Options left unset stay out of a run's saved config, so runs saved before they existed still resume.
        var plainJson = new BaseModelTrainingOptions().ToJson();
        foreach (var key in new[] { "teacher", "distillation_weight", "fragment_probability" }) Assert.False(plainJson.ContainsKey(key), key);
        Assert.False(plainJson["unet"]!.AsObject().ContainsKey("time_embedding_dim"));
        Assert.Contains("fragment", Assert.Throws<SonicException>(() => (TinyBase with { FragmentProbability = 1.5 }).Validate()).Message);

        var wrongText = TinyBase with { Text = TinyBase.Text with { NumHiddenLayers = 2 }, Teacher = teacherDir };
        var e = Assert.Throws<SonicException>(() => new BaseModelTrainingTask(latents, captions, vaeDir, wrongText));
        Assert.Contains(teacherDir, e.Message);
        Assert.Contains("text encoder", e.Message);
        Assert.Contains("--text-lr", Assert.Throws<SonicException>(() => (TinyBase with { Teacher = teacherDir, TextLearningRate = 1e-4 }).Validate()).Message);
    }

    [Fact]
    public void ClapLossDecreasesAndExportLoadsAsClapAudioEncoder()
    {
        using var tmp = new TempDir();
        var options = TinyClap;
        using var mels = MelCache.LoadOrBuild(Manifest, Rows, options.FrontEnd, options.CropsPerClip, tmp.File("cache"));
        Assert.Equal(2L * Rows.Count, mels.Count);
        Assert.Equal(options.FrontEnd.Frames(options.FrontEnd.NumSamples), mels.Frames);

        // Crop 0 of each clip is what inference computes.
        using (var fe = new ClapFrontEnd(options.FrontEnd))
        using (var expected = fe.LogMelFromFile(Manifest.AudioPath(mels.Rows[5])))
        using (var cached = mels.Read([10]))
            Assert.True((expected - cached).abs().max().item<float>() < 0.05f, "crop 0 must match the inference front end (float16 storage)");

        torch.manual_seed(4);
        using var text = new ClipTextModel(TinyBase.Text);
        BaseModelTrainingTask.InitTextEncoder(text);
        using var pooled = ClapTrainingTask.PoolCaptions(text, ClipTokenizer.Default, mels.Rows.Select(r => r.Caption).ToList());
        torch.manual_seed(13);
        using var task = new ClapTrainingTask(mels, pooled, options);
        using var trainer = new Trainer(task, Config(60, 9, 3e-3), tmp.File("run"));
        trainer.Run();
        var (first, last) = FirstAndLast(trainer.Metrics, 10);
        Assert.True(last < 0.8 * first, $"InfoNCE did not decrease: first 10 steps {first:G4}, last 10 {last:G4}");

        string dir = tmp.File("audio_encoder");
        task.Export(trainer, dir, tmp.File("head.safetensors"), ScalarType.Float32);
        var (encoder, frontEnd) = ModelExport.LoadAudioEncoder(dir);
        using (encoder)
        {
            Assert.Equal(System.Text.Json.JsonSerializer.Serialize(options.FrontEnd, ConfigJson.Options), System.Text.Json.JsonSerializer.Serialize(frontEnd, ConfigJson.Options));
            using var mel = mels.Read([0, 3]);
            task.Audio.eval();
            using var a = task.Audio.forward(mel);
            using var b = encoder.forward(mel);
            Assert.Equal(0.0, (a - b).abs().max().item<float>(), 5);
        }
        using var head = SafetensorsFile.Open(tmp.File("head.safetensors"));
        Assert.Contains("logit_scale", head.Names);

        // Fine-tuning (`train clap --init`): a new task starts from the exported encoder, tensor for tensor.
        torch.manual_seed(99);
        using var fineTune = new ClapTrainingTask(mels, pooled, options);
        var trained = task.Audio.state_dict();
        Assert.Contains(fineTune.Audio.state_dict(), kv => !kv.Value.equal(trained[kv.Key]).all().item<bool>());
        fineTune.InitAudioEncoder(dir);
        // Every tensor the export carries (the front end's STFT/mel buffers are not exported: the mini encoder reads log-mels).
        using (var exported = SafetensorsFile.Open(StableDiffusionComponents.FindWeights(dir)))
        {
            var names = exported.Names.Select(n => n.StartsWith("audio_encoder.", StringComparison.Ordinal) ? n["audio_encoder.".Length..] : n).ToList();
            Assert.True(names.Count > 20, $"only {names.Count} tensors exported");
            var loaded = fineTune.Audio.state_dict();
            foreach (var name in names)
                Assert.True(loaded[name].equal(trained[name]).all().item<bool>(), $"{name} was not loaded");
        }
        using var other = new ClapTrainingTask(mels, pooled, options with { Model = options.Model with { OutEmb = options.Model.OutEmb + 8 } });
        var e = Assert.Throws<SonicException>(() => other.InitAudioEncoder(dir));
        Assert.Contains(dir, e.Message);
        Assert.Contains("config differs", e.Message);
    }

    [Fact]
    public void MelCropPolicy()
    {
        using var wave = torch.arange(10, dtype: ScalarType.Float32);
        using var c0 = MelCache.Fit(wave, 25, 0, 2);
        using var c1 = MelCache.Fit(wave, 25, 1, 2);
        Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4 }, c0.data<float>().ToArray());
        Assert.Equal(new float[] { 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9 }, c1.data<float>().ToArray());
        using var l0 = MelCache.Fit(wave, 4, 0, 3);
        using var l2 = MelCache.Fit(wave, 4, 2, 3);
        Assert.Equal(new float[] { 0, 1, 2, 3 }, l0.data<float>().ToArray());
        Assert.Equal(new float[] { 6, 7, 8, 9 }, l2.data<float>().ToArray());
        Assert.Equal(3, MelCache.CropStart(10, 4, 1, 3));
    }
}
