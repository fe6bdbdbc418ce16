using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// The evaluation classifier of the mini world (see <see cref="WorldClassifierConfig"/>): a small CNN that predicts an
/// image's class and its intensity (the "visual magnitude" measure of <c>sonic eval</c>), with penultimate features for
/// IIS and the FID-proxy. Trained by <c>sonic train classifier</c> with colour jitter, hue rotation and channel
/// permutation so that it judges content, not palette. Export folder: <c>config.json</c> + <c>model.safetensors</c>.
/// </summary>
public sealed class WorldClassifier : nn.Module
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";

    public readonly ModuleList<Sequential> stages;
    public readonly Linear feature;
    public readonly Linear class_head;
    public readonly Linear intensity_head;

    public WorldClassifierConfig Config { get; }

    public WorldClassifier(WorldClassifierConfig config) : base(nameof(WorldClassifier))
    {
        Config = config.Validate();
        stages = new ModuleList<Sequential>();
        int cin = 3;
        for (int s = 0; s < config.Channels.Length; s++)
        {
            var layers = new List<(string, nn.Module<Tensor, Tensor>)>();
            for (int d = 0; d < config.Depths[s]; d++)
            {
                int cout = config.Channels[s];
                layers.Add(($"conv{d}", nn.Conv2d(cin, cout, 3, padding: 1)));
                layers.Add(($"norm{d}", Models.GroupNorms.Create(config.NormGroups, cout, 1e-5)));
                layers.Add(($"act{d}", nn.SiLU()));
                cin = cout;
            }
            layers.Add(("pool", nn.AvgPool2d(2)));
            stages.Add(nn.Sequential(layers));
        }
        feature = nn.Linear(cin, config.FeatureDim);
        class_head = nn.Linear(config.FeatureDim, config.Labels.Length);
        intensity_head = nn.Linear(config.FeatureDim, 1);
        RegisterComponents();
        CpuKernels.GuardConvolutions(this);
    }

    /// <summary>Images [B, 3, H, W] in [0, 1] (any size; resized to the input size) → logits, intensity, features.</summary>
    public WorldClassifierOutput Forward(Tensor images01)
    {
        using var scope = torch.NewDisposeScope();
        var x = Resize(images01).mul(2).sub(1);
        foreach (var stage in stages) x = stage.forward(x);
        var f = F.silu(feature.forward(x.mean([2, 3])));
        var logits = class_head.forward(f);
        var intensity = torch.sigmoid(intensity_head.forward(f)).squeeze(1);
        return new WorldClassifierOutput(logits.MoveToOuterDisposeScope(), intensity.MoveToOuterDisposeScope(), f.MoveToOuterDisposeScope());
    }

    /// <summary>Bilinear (antialiased when shrinking) resize to the input size, as the image cache preprocesses.</summary>
    public Tensor Resize(Tensor images01)
    {
        int r = Config.InputSize;
        if (images01.shape[2] == r && images01.shape[3] == r) return images01.alias();
        if (images01.shape[2] != images01.shape[3])
        {
            using var scope = torch.NewDisposeScope();
            var square = torch.stack(images01.unbind(0).Select(i => ImageCache.Preprocess(i, r)).ToArray(), 0);
            return square.MoveToOuterDisposeScope();
        }
        bool shrink = images01.shape[2] > r;
        return F.interpolate(images01, size: [r, r], mode: InterpolationMode.Bilinear, align_corners: false, antialias: shrink);
    }

    /// <summary>Classifies images in batches without gradients (eval mode); results are on the CPU, float32.</summary>
    public WorldClassifierOutput Predict(Tensor images01, int batchSize = 64)
    {
        using var noGrad = torch.no_grad();
        bool training = this.training;
        eval();
        try
        {
            var parts = new List<WorldClassifierOutput>();
            for (long s = 0; s < images01.shape[0]; s += batchSize)
            {
                using var scope = torch.NewDisposeScope();
                var o = Forward(images01.narrow(0, s, Math.Min(batchSize, images01.shape[0] - s)).to_type(ScalarType.Float32));
                parts.Add(new WorldClassifierOutput(o.Logits.cpu().MoveToOuterDisposeScope(), o.Intensity.cpu().MoveToOuterDisposeScope(), o.Features.cpu().MoveToOuterDisposeScope()));
            }
            var result = new WorldClassifierOutput(torch.cat(parts.Select(p => p.Logits).ToArray(), 0),
                torch.cat(parts.Select(p => p.Intensity).ToArray(), 0), torch.cat(parts.Select(p => p.Features).ToArray(), 0));
            foreach (var p in parts) p.Dispose();
            return result;
        }
        finally { train(training); }
    }

    /// <summary>Writes config.json and model.safetensors into <paramref name="dir"/> (replaced atomically).</summary>
    public void Save(string dir, ScalarType dtype = ScalarType.Float16) =>
        ModelExport.WriteFolderAtomically(dir, tmp =>
        {
            ModelExport.WriteJson(Path.Combine(tmp, ConfigFile), ModelExport.ConfigWithClass(Config, nameof(WorldClassifier)));
            ModelExport.WriteWeights(this, Path.Combine(tmp, WeightsFile), dtype, metadata: new Dictionary<string, string> { ["format"] = "sonic-world-classifier/1" });
        });

    /// <summary>Loads an exported classifier folder as a float32 model in eval mode.</summary>
    public static WorldClassifier Load(string dir)
    {
        if (!Directory.Exists(dir)) throw new SonicException($"{dir}: classifier folder not found");
        string cfgPath = Path.Combine(dir, ConfigFile), weights = Path.Combine(dir, WeightsFile);
        if (!File.Exists(weights)) throw new SonicException($"{weights}: classifier weights not found");
        var config = ConfigJson.Read<WorldClassifierConfig>(cfgPath).Validate(cfgPath);
        var model = new WorldClassifier(config);
        try
        {
            using var src = SafetensorsFile.Open(weights);
            var w = src.ReadAll(ScalarType.Float32);
            try { WeightLoader.Load(model, w, weights); }
            finally { foreach (var t in w.Values) t.Dispose(); }
        }
        catch
        {
            model.Dispose();
            throw;
        }
        model.eval();
        return model;
    }
}
