namespace SonicDiffusion.Pipelines;

/// <summary>VAE decode by overlapping latent tiles of <paramref name="Tile"/>² with <paramref name="Overlap"/> latents blended.</summary>
public sealed record VaeTiling(int Tile = 32, int Overlap = 16);
