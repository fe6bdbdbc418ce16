using System.Globalization;
using System.Text.Json.Nodes;
using SonicDiffusion.Imaging;
using SonicDiffusion.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// Trains an <see cref="AutoencoderKL"/> from scratch on cached images (see <see cref="VaeTrainingOptions"/> for the
/// loss). Each sample is a random crop of its cached image, mirrored with probability 0.5; the latent is a sample of
/// the posterior (reparameterised with the engine's generator). At each checkpoint <c>recon.png</c> in the run folder
/// shows up to 8 fixed images (top) and their reconstructions from the posterior mean (bottom) at full resolution.
/// </summary>
public sealed class VaeTrainingTask : ITrainingTask, IDisposable
{
    public const string PreviewFile = "recon.png";

    private readonly ImageCache _images;
    private readonly Action<string>? _log;

    public VaeTrainingOptions Options { get; }
    public AutoencoderKL Vae { get; }

    public VaeTrainingTask(ImageCache images, VaeTrainingOptions options, Action<string>? log = null)
    {
        Options = options.Validate();
        if (images.Resolution != options.Resolution)
            throw new Core.SonicException($"VAE training: the image cache holds {images.Resolution}² images, the options ask for {options.Resolution}²");
        _images = images;
        _log = log;
        Vae = new AutoencoderKL(options.Model with { SampleSize = options.Resolution });
        if (options.InitialLogVar is { } logVar)
            using (torch.no_grad())
                Vae.quant_conv.bias!.narrow(0, options.Model.LatentChannels, options.Model.LatentChannels).fill_(logVar);
        Vae.train();
    }

    public long DatasetSize => _images.Count;

    public IReadOnlyList<ParameterGroup> ParameterGroups => [ParameterGroup.FromModule("vae", Vae)];

    public JsonObject? Config => new() { ["kind"] = "vae", ["options"] = Options.ToJson(), ["images"] = _images.Describe() };

    public TrainingLoss ComputeLoss(TrainingBatch batch)
    {
        var x = Augment(_images.Batch(batch.Indices), batch.Generator);
        var posterior = Vae.Encode(x);
        var eps = torch.randn(posterior.Mean.shape, generator: batch.Generator);
        var z = posterior.Mean + posterior.Std * eps;
        var y = Vae.Decode(z);

        var diff = y - x;
        var rec = Options.ReconstructionLoss == "l1" ? diff.abs().mean() : diff.square().mean();
        var edge = EdgeLoss(y, x);
        var kl = (posterior.Mean.square() + posterior.Std.square() - 1 - posterior.LogVar).sum([1, 2, 3]).mean() * 0.5;
        double pixels = 3.0 * x.shape[2] * x.shape[3];
        var total = rec + Options.EdgeWeight * edge + (Options.KlWeight / pixels) * kl;
        return new TrainingLoss(total, new Dictionary<string, Tensor> { ["rec"] = rec, ["edge"] = edge, ["kl"] = kl });
    }

    /// <summary>Random crop to <see cref="VaeTrainingOptions.CropSize"/> and random horizontal flip, per sample.</summary>
    private Tensor Augment(Tensor x, Generator g)
    {
        long b = x.shape[0], r = x.shape[2];
        int c = Options.CropSize;
        if (c < r)
        {
            var offsets = torch.randint(0, r - c + 1, [b, 2], generator: g).data<long>().ToArray();
            x = torch.stack(Enumerable.Range(0, (int)b).Select(i => x[i].narrow(1, offsets[2 * i], c).narrow(2, offsets[2 * i + 1], c)).ToArray(), 0);
        }
        var flip = (torch.rand([b], generator: g) < Options.FlipProbability).reshape(b, 1, 1, 1);
        return torch.where(flip, x.flip(3), x);
    }

    /// <summary>Mean absolute difference of the horizontal and vertical pixel gradients.</summary>
    public static Tensor EdgeLoss(Tensor y, Tensor x)
    {
        static Tensor Dx(Tensor t) => t[.., .., .., 1..] - t[.., .., .., ..^1];
        static Tensor Dy(Tensor t) => t[.., .., 1.., ..] - t[.., .., ..^1, ..];
        return ((Dx(y) - Dx(x)).abs().mean() + (Dy(y) - Dy(x)).abs().mean()) * 0.5;
    }

    /// <summary>Up to 8 evenly spaced cached images used by the preview and <see cref="PreviewError"/>.</summary>
    private long[] PreviewIndices()
    {
        long n = _images.Count;
        int k = (int)Math.Min(8, n);
        return Enumerable.Range(0, k).Select(i => i * n / k).ToArray();
    }

    /// <summary>Originals and reconstructions (posterior mean) of the preview images: ([k,3,R,R], [k,3,R,R]) in [−1, 1].</summary>
    public (Tensor Original, Tensor Reconstruction) Reconstruct(long[] indices)
    {
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        bool training = Vae.training;
        Vae.eval();
        try
        {
            var x = _images.Batch(indices);
            using var posterior = Vae.Encode(x);
            var y = Vae.Decode(posterior.Mean).clamp(-1, 1);
            return (x.MoveToOuterDisposeScope(), y.MoveToOuterDisposeScope());
        }
        finally { Vae.train(training); }
    }

    /// <summary>Mean absolute error (in [−1, 1] units) of the preview reconstructions.</summary>
    public double PreviewError()
    {
        var (x, y) = Reconstruct(PreviewIndices());
        using (x) using (y) using (var d = (y - x).abs().mean()) return d.item<float>();
    }

    public void OnCheckpoint(Trainer trainer, string checkpointDirectory)
    {
        if (!trainer.AtScheduledCheckpoint) return;
        using var ema = trainer.Ema?.SwapIn();
        var (x, y) = Reconstruct(PreviewIndices());
        using (x) using (y)
        {
            using var scope = torch.NewDisposeScope();
            var grid = torch.cat([torch.cat(x.unbind(0), 2), torch.cat(y.unbind(0), 2)], 1).add(1).div(2);
            ImageTensor.SavePng(grid, Path.Combine(trainer.RunDirectory, PreviewFile));
            double err = (y - x).abs().mean().item<float>();
            _log?.Invoke(string.Create(CultureInfo.InvariantCulture, $"step {trainer.Step}: preview reconstruction L1 {err:F4} (recon.png)"));
        }
    }

    /// <summary>
    /// LDM's scaling factor: 1 / std of the latents (here the posterior means of up to <paramref name="maxImages"/>
    /// evenly spaced cached images at full resolution, unflipped), so scaled latents have unit variance.
    /// </summary>
    public double ComputeScalingFactor(int maxImages = 2048, int batchSize = 32)
    {
        using var noGrad = torch.no_grad();
        bool training = Vae.training;
        Vae.eval();
        try
        {
            long n = _images.Count, k = Math.Min(maxImages, n);
            var indices = Enumerable.Range(0, (int)k).Select(i => i * n / k).ToArray();
            double sum = 0, sumSq = 0, count = 0;
            for (int s = 0; s < indices.Length; s += batchSize)
            {
                using var scope = torch.NewDisposeScope();
                var x = _images.Batch(indices.Skip(s).Take(batchSize).ToArray());
                using var posterior = Vae.Encode(x);
                var m = posterior.Mean.to_type(ScalarType.Float64);
                sum += m.sum().item<double>();
                sumSq += m.square().sum().item<double>();
                count += m.numel();
            }
            double mean = sum / count, variance = sumSq / count - mean * mean;
            return 1.0 / Math.Sqrt(Math.Max(variance, 1e-12));
        }
        finally { Vae.train(training); }
    }

    /// <summary>Writes the diffusers vae/ folder with the EMA weights when the run has them; returns the scaling factor.</summary>
    public double Export(Trainer trainer, string dir, ScalarType dtype = ScalarType.Float16)
    {
        using var ema = trainer.Ema?.SwapIn();
        double scaling = ComputeScalingFactor();
        ModelExport.WriteVae(Vae, dir, scaling, dtype);
        return scaling;
    }

    public void Dispose() => Vae.Dispose();
}
