namespace SonicDiffusion.Tests.Infrastructure;

public static class RepoPaths
{
    private static readonly Lazy<string> _root = new(() =>
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "SonicDiffusion.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("repository root (SonicDiffusion.slnx) not found above " + AppContext.BaseDirectory);
    });

    public static string Root => _root.Value;
    public static string Fixtures => Path.Combine(Root, "tests", "fixtures");
    public static string Golden => Path.Combine(Fixtures, "golden");

    /// <summary>A fresh temporary folder, deleted by the caller's using.</summary>
    public static TempDir NewTemp() => new();
}

public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "sonic-test-" + Guid.NewGuid().ToString("N")[..12]);
    public TempDir() => Directory.CreateDirectory(Path);
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}
