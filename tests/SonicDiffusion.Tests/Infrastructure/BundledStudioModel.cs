using SonicDiffusion.Pipelines;
using SonicDiffusion.Studio;
using SonicDiffusion.Studio.Engines;

namespace SonicDiffusion.Tests.Infrastructure;

/// <summary>The committed <c>models/sonic-mini</c> bundle loaded once behind the studio's engine, with the repository's <c>samples/</c>.</summary>
public sealed class BundledStudioModel : IDisposable
{
    public static string Bundle => Path.Combine(RepoPaths.Root, "models", "sonic-mini");
    public static string Samples => Path.Combine(RepoPaths.Root, "samples");

    public TempDir Temp { get; } = new();
    public SonicDiffusionModel Sonic { get; } = SonicDiffusionModel.Load(Bundle);
    public SonicStudioEngine Engine { get; }

    public BundledStudioModel() => Engine = new SonicStudioEngine(Sonic, ownsModel: false);

    public StudioOptions Options(Func<StudioOptions, StudioOptions>? change = null)
    {
        var o = new StudioOptions { Engine = Engine, SamplesDirectory = Samples, PreviewEvery = 5 };
        return change is null ? o : change(o);
    }

    public void Dispose()
    {
        Engine.Dispose();
        Sonic.Dispose();
        Temp.Dispose();
    }
}
