using SonicDiffusion.Pipelines;

namespace SonicDiffusion.Studio.Engines;

/// <summary>
/// Loads the engine for a model path: a SonicDiffusion bundle (or an SD v1 model with the official files) runs the
/// audio-to-image pipeline; a plain SD v1 folder or checkpoint runs text-to-image, with the sound checked but unused.
/// </summary>
public static class StudioEngineLoader
{
    public static IStudioEngine Load(string path, OfficialSonicFiles? sonic = null, ModelLoadOptions? options = null)
    {
        if (sonic is not null || (Directory.Exists(path) && SonicDiffusionModel.IsBundle(path)))
            return new SonicStudioEngine(SonicDiffusionModel.Load(path, sonic, options), ownsModel: true);
        return new TextToImageStudioEngine(StableDiffusionComponents.Load(path, options), ownsModel: true);
    }
}
