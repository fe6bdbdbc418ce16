using SonicDiffusion.Pipelines;

namespace SonicDiffusion.Studio.Engines;

/// <summary>Loads the engine for a model path: a Stable Diffusion v1 folder or single-file checkpoint.</summary>
public static class StudioEngineLoader
{
    public static IStudioEngine Load(string path, ModelLoadOptions? options = null) =>
        new TextToImageStudioEngine(StableDiffusionComponents.Load(path, options), ownsModel: true);
}
