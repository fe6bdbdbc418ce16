using System.CommandLine;
using System.Diagnostics;
using SonicDiffusion.Core;
using SonicDiffusion.Diagnostics;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Cli.Commands;

public static partial class BenchCommand
{
    private static Command Load()
    {
        var model = new Option<string?>("--model") { Description = "Stable Diffusion v1 model to load: a single file or a diffusers folder (default: a random-weight SD v1.4 single file, fp16, written once into --work)" };
        var work = new Option<string?>("--work") { Description = "Folder of the random-weight file (default: $SONIC_CACHE/bench, else ~/.cache/sonicdiffusion/bench)" };
        var dtypes = Dtypes();
        var steps = new Option<int>("--steps") { Description = "After each load, a txt2img generation with this many PNDM steps (VAE decode included); 0 = load only", DefaultValueFactory = _ => 0 };
        var size = CommonOptions.Size("512");
        var cold = new Option<bool>("--cold") { Description = "Evict the model's files from the page cache before each load (posix_fadvise), for a cold-cache figure" };
        var threads = CommonOptions.TorchThreads();
        var vaeTiling = CommonOptions.VaeTiling();
        var cmd = new Command("load", "Model load time and peak resident memory (load alone, then optionally a whole generation)")
        {
            model, work, dtypes, steps, size, cold, threads, vaeTiling,
        };
        cmd.SetAction(pr =>
        {
            CommonOptions.ApplyTorchThreads(pr.GetValue(threads));
            var (w, h) = CommonOptions.ParseSize(pr.GetValue(size)!);
            Console.WriteLine(TorchRuntime.Describe());
            string path = pr.GetValue(model) ?? RandomSdV1File(pr.GetValue(work));
            Console.WriteLine($"model: {path} ({Gigabytes(ModelBytes(path)):0.00} GB on disk)");
            foreach (var (dtypeName, dtype) in RunnableDtypes(pr.GetValue(dtypes)!, torch.CPU))
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                if (pr.GetValue(cold))
                {
                    bool evicted = ModelFiles(path).All(ProcessMemory.EvictFromPageCache);
                    Console.WriteLine(evicted ? "page cache: the model's files evicted (cold load)" : "page cache: could not evict the files; the load below is warm");
                }
                long before = ProcessMemory.ResidentBytes() ?? 0;
                bool peakReset = ProcessMemory.ResetPeak();
                var sw = Stopwatch.StartNew();
                SectionProfiler.Start();
                using var components = StableDiffusionComponents.Load(path, new ModelLoadOptions { Dtype = dtype, VaeTiling = CommonOptions.ParseVaeTiling(pr.GetValue(vaeTiling)) });
                double loadS = sw.Elapsed.TotalSeconds;
                var sections = SectionProfiler.Stop();
                long loadPeak = ProcessMemory.PeakResidentBytes() ?? 0;
                long weights = new nn.Module[] { components.Unet, components.Vae, components.TextEncoder }
                    .Sum(m => m.parameters().Sum(p => p.NumberOfElements * p.ElementSize));
                Console.WriteLine($"load {dtypeName}: {loadS:0.00} s; parameters {Gigabytes(weights):0.00} GB; RSS before {Gigabytes(before):0.00} GB, "
                    + $"peak {(peakReset ? "" : "(since start) ")}{Gigabytes(loadPeak):0.00} GB, after {Gigabytes(ProcessMemory.ResidentBytes() ?? 0):0.00} GB");
                double other = loadS * 1000 - sections.Values.Sum(v => v.Milliseconds);
                Console.WriteLine("  " + string.Join(", ", sections.Select(kv => $"{kv.Key} {kv.Value.Milliseconds / 1000:0.00} s")) + $", the rest {other / 1000:0.00} s");
                if (pr.GetValue(steps) <= 0) continue;
                var req = new TextToImageRequest { Prompt = "a photograph of an astronaut riding a horse", Steps = pr.GetValue(steps), Width = w, Height = h, Seed = 0 };
                req.Validate();
                var pipeline = new TextToImagePipeline(components);
                ProcessMemory.ResetPeak();
                sw.Restart();
                using var latents = pipeline.GenerateLatents(req);
                double denoiseS = sw.Elapsed.TotalSeconds;
                long denoisePeak = ProcessMemory.PeakResidentBytes() ?? 0;
                ProcessMemory.ResetPeak();
                sw.Restart();
                using (var image = components.DecodeToImage(latents)) { }
                Console.WriteLine($"generate {dtypeName} {w}x{h}, {req.Steps} {req.Scheduler} steps: {denoiseS:0.0} s, peak RSS {Gigabytes(denoisePeak):0.00} GB; "
                    + $"VAE decode{(components.VaeTiling is null ? "" : " (tiled)")}: {sw.Elapsed.TotalSeconds:0.0} s, peak RSS {Gigabytes(ProcessMemory.PeakResidentBytes() ?? 0):0.00} GB");
            }
            return 0;
        });
        return cmd;
    }

    private static double Gigabytes(long bytes) => bytes / 1e9;

    private static IEnumerable<string> ModelFiles(string path) => Directory.Exists(path)
        ? Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories).Where(f => f.EndsWith(".safetensors", StringComparison.Ordinal) || f.EndsWith(".bin", StringComparison.Ordinal))
        : [path];

    private static long ModelBytes(string path) => ModelFiles(path).Sum(f => new FileInfo(f).Length);

    /// <summary>
    /// A random-weight SD v1.4 single file (UNet, VAE and CLIP text encoder of the real sizes, CompVis names, float16, the
    /// layout of sd-v1-4.ckpt converted to safetensors), written once and reused.
    /// </summary>
    private static string RandomSdV1File(string? work)
    {
        string dir = work ?? UserCache.Folder("bench");
        string file = Path.Combine(dir, "sd-v1-random-fp16.safetensors");
        if (File.Exists(file)) return file;
        Directory.CreateDirectory(dir);
        Console.WriteLine($"writing a random-weight SD v1.4 single file to {file} (once)");
        var sw = Stopwatch.StartNew();
        torch.manual_seed(0);
        using (var unet = new UNet2DConditionModel(new UNet2DConditionConfig()))
        using (var vae = new AutoencoderKL(new AutoencoderKLConfig()))
        using (var text = new ClipTextModel(ClipTextConfig.SdV1))
        {
            var tensors = new Dictionary<(CheckpointConverter.SdComponents, string), Tensor>();
            foreach (var (n, p) in unet.named_parameters()) tensors[(CheckpointConverter.SdComponents.UNet, n)] = p;
            foreach (var (n, p) in vae.named_parameters()) tensors[(CheckpointConverter.SdComponents.Vae, n)] = p;
            foreach (var (n, p) in text.named_parameters()) tensors[(CheckpointConverter.SdComponents.TextEncoder, n)] = p;
            var names = CheckpointConverter.SingleFileNames(
                unet.named_parameters().Select(x => x.name), vae.named_parameters().Select(x => x.name), text.named_parameters().Select(x => x.name));
            var entries = names.Select(kv =>
            {
                var t = tensors[(kv.Value.Component, kv.Value.InternalName)];
                long[] shape = kv.Value.ToConvKernel ? [.. t.shape, 1, 1] : t.shape;
                return new SafetensorsWriter.Entry(kv.Key, "F16", shape, () => t.detach().to_type(ScalarType.Float16).reshape(shape), true);
            });
            SafetensorsWriter.Write(file, entries, new Dictionary<string, string> { ["note"] = "random weights (sonic bench load), SD v1.4 architecture and key names" });
        }
        Console.WriteLine($"written in {sw.Elapsed.TotalSeconds:0.0} s");
        return file;
    }
}
