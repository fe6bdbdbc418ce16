namespace SonicDiffusion.IO;

/// <summary>
/// The one place where every foreign parameter naming is mapped to the internal diffusers naming:
/// SD single-file / CompVis (UNet, VAE, text encoder), legacy diffusers VAE attention names, and the official
/// SonicDiffusion / CLAP files. Each section below owns one component.
/// </summary>
public static partial class CheckpointConverter
{
}
