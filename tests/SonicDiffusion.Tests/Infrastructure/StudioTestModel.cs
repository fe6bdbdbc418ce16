using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using SonicDiffusion.Audio;
using SonicDiffusion.Data.World;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Studio;
using SonicDiffusion.Studio.Engines;

namespace SonicDiffusion.Tests.Infrastructure;

/// <summary>
/// The studio's test set-up: the tiny random SonicDiffusion bundle loaded once behind the real audio-to-image engine
/// (and the tiny plain SD model behind the text-only engine), and a samples folder with two synthetic-world sounds
/// (plus a text file the library must skip). Apps are built per test.
/// </summary>
public sealed class StudioTestModel : IDisposable
{
    public TempDir Temp { get; } = new();
    public string BundleFolder { get; }
    public string SdFolder { get; }
    public string SamplesFolder { get; }
    public SonicDiffusionModel Sonic { get; }
    public SonicStudioEngine Engine { get; }
    public StableDiffusionComponents Components { get; }
    public TextToImageStudioEngine TextOnlyEngine { get; }

    public StudioTestModel()
    {
        BundleFolder = TinySonicBundle.WriteBundle(Temp.File("tiny-sonic"));
        SdFolder = TinyStableDiffusion.WriteFolder(Temp.File("tiny-sd"));
        SamplesFolder = Temp.File("samples");
        Directory.CreateDirectory(SamplesFolder);
        WavWriter.WritePcm16(Path.Combine(SamplesFolder, "raining.wav"), SoundSynth.Synthesize(WorldClass.Raining, 0.7, 2.0, new WorldRandom(1)), SoundSynth.SampleRate);
        WavWriter.WritePcm16(Path.Combine(SamplesFolder, "thunder.wav"), SoundSynth.Synthesize(WorldClass.Thunder, 0.9, 1.5, new WorldRandom(2)), SoundSynth.SampleRate);
        File.WriteAllText(Path.Combine(SamplesFolder, "notes.txt"), "not a sound");
        Sonic = SonicDiffusionModel.Load(BundleFolder);
        Engine = new SonicStudioEngine(Sonic, ownsModel: false);
        Components = StableDiffusionComponents.Load(SdFolder);
        TextOnlyEngine = new TextToImageStudioEngine(Components, ownsModel: false);
    }

    public StudioOptions Options(Func<StudioOptions, StudioOptions>? change = null)
    {
        var o = new StudioOptions { Engine = Engine, SamplesDirectory = SamplesFolder, PreviewEvery = 2 };
        return change is null ? o : change(o);
    }

    /// <summary>A started studio on the ASP.NET test server.</summary>
    public async Task<WebApplication> StartTestServerAsync(StudioOptions options)
    {
        var app = StudioHost.Build(options, b => b.WebHost.UseTestServer());
        await app.StartAsync();
        return app;
    }

    public void Dispose()
    {
        Engine.Dispose();
        Sonic.Dispose();
        TextOnlyEngine.Dispose();
        Components.Dispose();
        Temp.Dispose();
    }
}
