using System.Globalization;
using SonicDiffusion.Core;

namespace SonicDiffusion.Pipelines;

/// <summary>Parameters of one text-to-image generation; every field is written into the PNG.</summary>
public sealed record TextToImageRequest
{
    public string Prompt { get; init; } = "";
    public string NegativePrompt { get; init; } = "";
    public int Steps { get; init; } = 50;
    public double Guidance { get; init; } = 7.5;
    public long Seed { get; init; }
    public string Scheduler { get; init; } = "pndm";
    public int Width { get; init; } = 512;
    public int Height { get; init; } = 512;

    public void Validate()
    {
        if (Steps is < 1 or > 1000) throw new SonicException($"--steps {Steps}: must be between 1 and 1000");
        if (Width % 8 != 0 || Height % 8 != 0 || Width < 8 || Height < 8)
            throw new SonicException($"--size {Width}x{Height}: both sides must be positive multiples of 8");
        if (double.IsNaN(Guidance) || double.IsInfinity(Guidance)) throw new SonicException($"--guidance {Guidance}: not a number");
    }

    public IEnumerable<KeyValuePair<string, string>> ToMetadata()
    {
        var c = CultureInfo.InvariantCulture;
        yield return new("prompt", Prompt);
        yield return new("negative_prompt", NegativePrompt);
        yield return new("steps", Steps.ToString(c));
        yield return new("guidance", Guidance.ToString("R", c));
        yield return new("seed", Seed.ToString(c));
        yield return new("scheduler", Scheduler);
        yield return new("size", $"{Width}x{Height}");
    }
}
