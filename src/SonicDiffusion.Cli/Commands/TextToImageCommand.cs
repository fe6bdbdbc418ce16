using System.CommandLine;
using SonicDiffusion.Imaging;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Core;

namespace SonicDiffusion.Cli.Commands;

public static class TextToImageCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Stable Diffusion v1 model: a diffusers folder or a single-file checkpoint", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "Text prompt", DefaultValueFactory = _ => "" };
        var negative = new Option<string>("--negative-prompt") { Description = "Negative prompt (the unconditional branch)", DefaultValueFactory = _ => "" };
        var steps = CommonOptions.Steps(50);
        var guidance = CommonOptions.Guidance(7.5);
        var seed = CommonOptions.Seed();
        var scheduler = CommonOptions.Scheduler("pndm");
        var size = CommonOptions.Size("512x512");
        var output = new Option<string>("--out") { Description = "Output PNG", DefaultValueFactory = _ => "out.png" };
        var device = CommonOptions.Device();
        var dtype = CommonOptions.Dtype();
        var vaeTiling = CommonOptions.VaeTiling();
        var threads = CommonOptions.TorchThreads();
        var cmd = new Command("txt2img", "Generate an image from a text prompt with a Stable Diffusion v1 model")
        {
            model, prompt, negative, steps, guidance, seed, scheduler, size, output, device, dtype, vaeTiling, threads,
        };
        cmd.SetAction(pr =>
        {
            CommonOptions.ApplyTorchThreads(pr.GetValue(threads));
            var (w, h) = CommonOptions.ParseSize(pr.GetValue(size)!);
            var req = new TextToImageRequest
            {
                Prompt = pr.GetValue(prompt)!, NegativePrompt = pr.GetValue(negative)!, Steps = pr.GetValue(steps),
                Guidance = pr.GetValue(guidance), Seed = pr.GetValue(seed), Scheduler = pr.GetValue(scheduler)!, Width = w, Height = h,
            };
            req.Validate();
            var modelPath = pr.GetValue(model)!;
            var options = new ModelLoadOptions
            {
                Device = TorchRuntime.ParseDevice(pr.GetValue(device)),
                Dtype = CommonOptions.ParseDtype(pr.GetValue(dtype)!, pr.GetValue(device)),
                VaeTiling = CommonOptions.ParseVaeTiling(pr.GetValue(vaeTiling)),
                Log = s => Console.Error.WriteLine("note: " + s),
            };
            var sw = System.Diagnostics.Stopwatch.StartNew();
            using var components = StableDiffusionComponents.Load(modelPath, options);
            Console.WriteLine($"loaded {components.Source} in {sw.Elapsed.TotalSeconds:0.0} s");
            var pipeline = new TextToImagePipeline(components);
            sw.Restart();
            using var image = ConsoleProgress.Run(p => pipeline.Generate(req, p, CliContext.Cancellation));
            var outPath = pr.GetValue(output)!;
            var meta = req.ToMetadata().Append(new("model", modelPath)).Append(new("dtype", TorchRuntime.DtypeName(components.Dtype)))
                .Concat(components.VaeTiling is { } t ? [new("vae_tiling", $"{t.Tile}/{t.Overlap}")] : Array.Empty<KeyValuePair<string, string>>())
                .Append(new("software", "SonicDiffusion.NET txt2img"));
            ImageTensor.SavePng(image, outPath, meta);
            Console.WriteLine($"wrote {outPath} ({req.Width}x{req.Height}, {sw.Elapsed.TotalSeconds:0.0} s)");
            return 0;
        });
        return cmd;
    }
}
