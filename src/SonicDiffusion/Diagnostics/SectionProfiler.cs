using System.Diagnostics;

namespace SonicDiffusion.Diagnostics;

/// <summary>
/// Wall-clock time per named section of the model code (resnet, self-attention, …), collected on the current thread
/// between <see cref="Start"/> and <see cref="Stop"/>; <c>sonic bench generate --profile</c> prints it. Off by default,
/// when <see cref="Measure"/> costs one thread-static read. CPU ops are synchronous, so the clock sees their real cost.
/// </summary>
public static class SectionProfiler
{
    [ThreadStatic] private static Dictionary<string, (long Ticks, int Count)>? _sections;

    public static void Start() => _sections = new(StringComparer.Ordinal);

    /// <summary>Milliseconds and call count per section since <see cref="Start"/>; profiling stops.</summary>
    public static IReadOnlyDictionary<string, (double Milliseconds, int Count)> Stop()
    {
        var s = _sections ?? new();
        _sections = null;
        return s.ToDictionary(kv => kv.Key, kv => (kv.Value.Ticks * 1000.0 / Stopwatch.Frequency, kv.Value.Count));
    }

    /// <summary>Times the section until the returned value is disposed (nothing when profiling is off).</summary>
    public static Section Measure(string name) => _sections is null ? default : new Section(name, Stopwatch.GetTimestamp());

    public readonly struct Section(string? name, long start) : IDisposable
    {
        public void Dispose()
        {
            if (name is null || _sections is not { } sections) return;
            long elapsed = Stopwatch.GetTimestamp() - start;
            sections.TryGetValue(name, out var e);
            sections[name] = (e.Ticks + elapsed, e.Count + 1);
        }
    }
}

/// <summary>Names of the pipeline-level sections (the UNet's own sections are timed inside <see cref="Sampler"/>).</summary>
public static class ProfileSections
{
    public const string AudioEncode = "audio encode";
    public const string AudioProjector = "audio projector";
    public const string TextEncode = "text encode";
    public const string Sampler = "sampler";
    public const string VaeDecode = "VAE decode";
    public const string LoadBuild = "load: build modules";
    public const string LoadWeights = "load: copy weights";

    public static IReadOnlyList<string> Pipeline { get; } = [AudioEncode, AudioProjector, TextEncode, Sampler, VaeDecode];
}
