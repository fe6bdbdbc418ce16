namespace SonicDiffusion.Studio.Engines;

/// <summary>A finished image: PNG bytes carrying <paramref name="Metadata"/> as text chunks.</summary>
public sealed record StudioImage(byte[] Png, int Width, int Height, IReadOnlyList<KeyValuePair<string, string>> Metadata);
