namespace SonicDiffusion.Core;

/// <summary>The user's cache folder: <c>$SONIC_CACHE</c>, else <c>~/.cache/sonicdiffusion</c>.</summary>
public static class UserCache
{
    public static string Root => Environment.GetEnvironmentVariable("SONIC_CACHE") is { Length: > 0 } c ? c
        : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "sonicdiffusion");

    /// <summary>A named folder inside <see cref="Root"/>.</summary>
    public static string Folder(string name) => Path.Combine(Root, name);
}
