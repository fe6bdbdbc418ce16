using System.CommandLine;
using SonicDiffusion.Core;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Studio;

namespace SonicDiffusion.Cli.Commands;

/// <summary>`sonic serve`: the web studio (page + API) on Kestrel, loopback by default.</summary>
public static class ServeCommand
{
    public const string TokenVariable = "SONIC_STUDIO_TOKEN";

    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = $"Model to serve: a SonicDiffusion bundle, or a Stable Diffusion v1 folder/checkpoint (text only unless --sonic is given) (default {GenerateCommand.DefaultModel})" };
        var urls = new Option<string>("--urls") { Description = "Where to listen, ';'-separated; anything but loopback needs --token", DefaultValueFactory = _ => "http://127.0.0.1:5000" };
        var sonic = new Option<string?>("--sonic") { Description = "Official SonicDiffusion files (gate dict .pt, audio_projector_*.pth, CLAP_weights_2022.pth): a folder or comma-separated files" };
        var token = new Option<string?>("--token") { Description = $"Bearer token required on every API call (default: ${TokenVariable})" };
        var samples = new Option<string?>("--samples") { Description = "Folder of sample sounds offered on the page (default: samples/)" };
        var device = CommonOptions.Device();
        var dtype = CommonOptions.Dtype();
        var vaeTiling = CommonOptions.VaeTiling();
        var cmd = new Command("serve", "Web studio: generate (and edit) from a browser; one job at a time, queue visible")
        {
            model, sonic, urls, token, samples, device, dtype, vaeTiling,
        };
        cmd.SetAction(pr =>
        {
            var tokenValue = pr.GetValue(token) ?? Environment.GetEnvironmentVariable(TokenVariable);
            var urlsValue = pr.GetValue(urls)!;
            StudioHost.CheckBinding(urlsValue, tokenValue);
            var modelPath = GenerateCommand.ResolveModel(pr.GetValue(model));
            var options = new StudioOptions
            {
                ModelPath = modelPath,
                SonicFiles = pr.GetValue(sonic) is { } s ? OfficialSonicFiles.Resolve(s) : null,
                ModelLoad = new ModelLoadOptions
                {
                    Device = TorchRuntime.ParseDevice(pr.GetValue(device)),
                    Dtype = CommonOptions.ParseDtype(pr.GetValue(dtype)!, pr.GetValue(device)),
                    VaeTiling = CommonOptions.ParseVaeTiling(pr.GetValue(vaeTiling)),
                    Log = s => Console.Error.WriteLine("note: " + s),
                },
                SamplesDirectory = pr.GetValue(samples) ?? FindDefault("samples"),
                Urls = urlsValue,
                Token = string.IsNullOrEmpty(tokenValue) ? null : tokenValue,
            };
            Console.WriteLine($"loading {modelPath} …");
            StudioHost.RunAsync(options, addresses =>
            {
                foreach (var a in addresses) Console.WriteLine($"SonicDiffusion Studio on {a}/  (Ctrl+C stops)");
                if (options.Token is not null) Console.WriteLine("API calls need the header: Authorization: Bearer <token> (the page asks for it)");
            }, CliContext.Cancellation).GetAwaiter().GetResult();
            Console.WriteLine("stopped");
            return 0;
        });
        return cmd;
    }

    /// <summary>A folder relative to the working directory, else next to the executable; null when neither exists.</summary>
    private static string? FindDefault(string relative) =>
        new[] { Path.GetFullPath(relative), Path.Combine(AppContext.BaseDirectory, relative) }.FirstOrDefault(Directory.Exists);
}
