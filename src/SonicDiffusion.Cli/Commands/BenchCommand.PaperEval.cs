using System.CommandLine;
using System.Globalization;
using SonicDiffusion.Diagnostics;
using SonicDiffusion.Models;
using SonicDiffusion.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Cli.Commands;

public static partial class BenchCommand
{
    /// <summary>
    /// <c>sonic bench paper-eval</c>: per-image cost of the paper protocol's models at their real sizes (random weights:
    /// the cost does not depend on the values) — CLIP ViT-L/14 and ViT-B/32 image towers, the FID Inception, Wav2CLIP on
    /// one 442 763-sample clip — and the estimate for N images.
    /// </summary>
    private static Command PaperEval()
    {
        var repeat = Repeat();
        var images = new Option<int>("--images") { Description = "Images the estimate is for", DefaultValueFactory = _ => 1000 };
        var cmd = new Command("paper-eval", "Per-image time of the paper protocol's models (ViT-L/14, ViT-B/32, FID Inception, Wav2CLIP) at real size, and the estimate for --images") { repeat, images };
        cmd.SetAction(pr =>
        {
            int n = pr.GetValue(images), r = pr.GetValue(repeat);
            string F(double ms) => ms.ToString("0", CultureInfo.InvariantCulture);
            using var inference = torch.inference_mode();
            double total = 0;
            void Row(string name, Timing t, double perImageCount)
            {
                double seconds = t.Median / 1000 * perImageCount * n;
                total += seconds;
                Console.WriteLine($"{name,-34} median {F(t.Median)} ms (best {F(t.Best)})  → {seconds / 60:0.0} min for {n}");
            }
            foreach (var (name, vision, dim, count) in new[]
            {
                ("CLIP ViT-L/14 image", new ClipVisionConfig { HiddenSize = 1024, IntermediateSize = 4096, NumHiddenLayers = 24, NumAttentionHeads = 16, PatchSize = 14 }, 768, 2.0),
                ("CLIP ViT-B/32 image", new ClipVisionConfig(), 512, 1.0),
            })
            {
                using var clip = new ClipModel(new ClipConfig(new ClipTextConfig { HiddenSize = 512, NumAttentionHeads = 8, IntermediateSize = 2048, NumHiddenLayers = 1 }, vision, dim));
                clip.eval();
                using var pixels = torch.randn(1, 3, 224, 224);
                Row(name + (count > 1 ? " (×2: generated + dataset)" : ""), Timing.Measure(() => clip.EncodeImage(pixels).Dispose(), 1, r), count);
            }
            using (var inception = new FidInceptionV3())
            {
                inception.eval();
                using var image = torch.rand(1, 3, 512, 512);
                Row("FID Inception (×2: generated + dataset)", Timing.Measure(() => inception.Features(image).Dispose(), 1, r), 2);
            }
            using (var w2c = new Wav2Clip())
            {
                w2c.eval();
                using var clip = torch.randn(Wav2Clip.PaperSamples) * 0.1;
                Row("Wav2CLIP (one 442 763-sample clip)", Timing.Measure(() => w2c.Embed(clip).Dispose(), 1, r), 1);
            }
            Console.WriteLine($"estimate for {n} images: {total / 60:0.0} min ({torch.get_num_threads()} threads; image decoding and preprocessing not included)");
            return 0;
        });
        return cmd;
    }
}
