using SonicDiffusion.Pipelines;
using SonicDiffusion.Studio.Engines;

namespace SonicDiffusion.Studio;

/// <summary>How to run the studio: which model, where to listen, who may call the API, and the limits.</summary>
public sealed record StudioOptions
{
    /// <summary>Model to load (ignored when <see cref="Engine"/> is given).</summary>
    public string? ModelPath { get; init; }
    /// <summary>Official SonicDiffusion files that replace or supply the model's audio parts (as <c>sonic generate --sonic</c>).</summary>
    public OfficialSonicFiles? SonicFiles { get; init; }
    public ModelLoadOptions? ModelLoad { get; init; }
    /// <summary>An engine the caller made and keeps owning (tests, embedding); the host does not dispose it.</summary>
    public IStudioEngine? Engine { get; init; }
    /// <summary>Folder of bundled sample sounds offered on the page (null or missing: none).</summary>
    public string? SamplesDirectory { get; init; }
    /// <summary>Kestrel URLs, ';'-separated. Anything but a loopback address needs <see cref="Token"/>.</summary>
    public string Urls { get; init; } = "http://127.0.0.1:5000";
    /// <summary>Bearer token every /api call must carry (Authorization: Bearer …); null = none (loopback only).</summary>
    public string? Token { get; init; }
    public long AudioUploadLimit { get; init; } = 50L * 1024 * 1024;
    public long ImageUploadLimit { get; init; } = 20L * 1024 * 1024;
    /// <summary>Largest image (width × height, read from its header) an edit accepts; 413 beyond.</summary>
    public long MaxImagePixels { get; init; } = 16_000_000;
    /// <summary>Jobs waiting (not counting the running one) before new ones are refused with 429.</summary>
    public int MaxQueuedJobs { get; init; } = 16;
    /// <summary>Finished jobs kept with their images; the oldest is evicted beyond this.</summary>
    public int MaxStoredResults { get; init; } = 32;
    public int MaxSteps { get; init; } = 150;
    /// <summary>A step preview every this many model calls (0 = none).</summary>
    public int PreviewEvery { get; init; } = 5;
}
