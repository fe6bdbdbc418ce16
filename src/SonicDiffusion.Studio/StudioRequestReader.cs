using System.Globalization;
using Microsoft.AspNetCore.Http;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Imaging;
using SonicDiffusion.Schedulers;
using SonicDiffusion.Studio.Engines;
using SonicDiffusion.Studio.Jobs;

namespace SonicDiffusion.Studio;

/// <summary>
/// Reads the multipart forms of the API: size limits (413), sounds and images decoded from their content with the
/// library's readers (400 with the reader's one-line message), parameters range-checked (400). File names the client
/// sends are ignored; a sample is named by its id in <see cref="SampleLibrary"/>.
/// </summary>
public sealed class StudioRequestReader(StudioOptions options, SampleLibrary samples, IStudioEngine engine)
{
    public const int MaxPromptLength = 2000;

    public static async Task<IFormCollection> ReadFormAsync(HttpRequest request, CancellationToken ct)
    {
        if (!request.HasFormContentType) throw new StudioHttpException(415, "send the request as multipart/form-data");
        try
        {
            return await request.ReadFormAsync(ct);
        }
        catch (BadHttpRequestException e)
        {
            throw new StudioHttpException(e.StatusCode, e.StatusCode == 413 ? "the request is larger than the upload limits" : e.Message);
        }
        catch (InvalidDataException e) when (e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase))
        {
            throw new StudioHttpException(413, $"the upload is too large ({e.Message.TrimEnd('.')})");
        }
        catch (InvalidDataException e)
        {
            throw new StudioHttpException(400, $"malformed multipart form ({e.Message.TrimEnd('.')})");
        }
        catch (IOException e)
        {
            throw new StudioHttpException(400, $"the upload was cut off ({e.Message.TrimEnd('.')})");
        }
    }

    /// <summary>The sound of a form: an uploaded file "audio" or a bundled "sample" id. Null when neither is given.</summary>
    public (AudioClip Clip, string Label)? ReadSound(IFormCollection form)
    {
        var file = form.Files.GetFile("audio");
        var sampleId = form["sample"].ToString();
        if (file is not null && file.Length > 0)
        {
            var bytes = ReadFile(file, options.AudioUploadLimit, "audio upload");
            return (AudioReader.Decode(bytes, "audio upload"), "upload");
        }
        if (sampleId.Length > 0)
        {
            var sample = samples.Find(sampleId) ?? throw new StudioHttpException(404, $"sample '{Clip(sampleId, 60)}' not found (GET /api/samples lists them)");
            return (AudioReader.Decode(samples.ReadBytes(sample), $"sample {sample.Id}"), "sample " + sample.Id);
        }
        if (file is not null) throw new SonicException("audio upload: audio file is empty");
        return null;
    }

    /// <summary>
    /// The checked image bytes of an edit form ("image"): at most <see cref="StudioOptions.ImageUploadLimit"/> bytes (413),
    /// a format recognised from the content, at most <see cref="StudioOptions.MaxImagePixels"/> pixels (413, read from
    /// the header before any pixel is decoded), a size the edit geometry accepts, and pixels the CLI's decoder reads (400).
    /// </summary>
    public byte[] ReadImage(IFormCollection form, ImageFit fit = ImageFit.Resize)
    {
        var file = form.Files.GetFile("image") ?? throw new StudioHttpException(400, "an edit needs an image (form field 'image')");
        var bytes = ReadFile(file, options.ImageUploadLimit, "image upload");
        var (width, height) = ImageTensor.Probe(bytes, "image upload");
        if ((long)width * height > options.MaxImagePixels)
            throw new StudioHttpException(413, $"image upload is {width}x{height} pixels, over the {options.MaxImagePixels / 1e6:0.#} megapixel limit");
        EditGeometry.Plan(width, height, engine.Info.Width, fit, "image upload");
        using var decoded = ImageTensor.Decode(bytes, "image upload");
        return bytes;
    }

    public (StudioGenerateRequest Request, StudioJobParameters Parameters) ReadGeneration(IFormCollection form, bool hasImage)
    {
        var sound = ReadSound(form);
        if (sound is null && engine.Info.UsesAudio) throw new StudioHttpException(400, "give a sound: an 'audio' file or a 'sample' id");
        return ReadParameters(form, sound, hasImage, null);
    }

    /// <summary>
    /// An edit form: the image (see <see cref="ReadImage"/>), the sound (optional with a prompt: text-only PnP; unused by a
    /// model without audio, which needs the prompt), the shared parameters and the injection fractions. Edits sample with DDIM.
    /// </summary>
    public (StudioEditRequest Request, StudioJobParameters Parameters) ReadEdit(IFormCollection form)
    {
        var info = engine.Info;
        var fitText = form["fit"].ToString().Trim().ToLowerInvariant();
        var fit = fitText switch
        {
            "" or "resize" => ImageFit.Resize, "crop" => ImageFit.Crop, "pad" => ImageFit.Pad,
            _ => throw new StudioHttpException(400, $"fit '{Clip(fitText, 40)}' is unknown (use resize, crop or pad)"),
        };
        var image = ReadImage(form, fit);
        var sound = ReadSound(form);
        bool useSound = info.UsesAudio && sound is not null;
        if (!useSound && string.IsNullOrWhiteSpace(form["prompt"].ToString()))
            throw new StudioHttpException(400, info.UsesAudio
                ? "give a sound (an 'audio' file or a 'sample' id), or a prompt for a text-only edit"
                : "this model has no audio adapters: give a prompt to edit with text (text-only PnP)");
        var (generation, parameters) = ReadParameters(form, useSound ? sound : null, true, "ddim");
        double feature = Number(form, "feature_injection", info.DefaultFeatureInjection, 0, 1);
        double attn = Number(form, "attn_injection", info.DefaultAttnInjection, 0, 1);
        var sites = FeatureSites(form, info);
        var request = new StudioEditRequest
        {
            Image = image, Generation = generation, UseSound = useSound, FeatureInjection = feature, AttnInjection = attn, Fit = fit,
            FeatureSites = sites,
        };
        return (request, parameters with
        {
            FeatureInjection = feature, AttnInjection = attn, Fit = fit.ToString().ToLowerInvariant(),
            FeatureSites = string.Join(",", sites ?? info.DefaultFeatureSites),
        });
    }

    /// <summary>The form's <c>feature_sites</c>: null when absent or blank (the official sites), else decoder resnets of the model, each once.</summary>
    private static IReadOnlyList<string>? FeatureSites(IFormCollection form, StudioModelInfo info)
    {
        var text = form["feature_sites"].ToString();
        if (string.IsNullOrWhiteSpace(text)) return null;
        var names = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        foreach (var n in names)
            if (!info.DecoderResnets.Contains(n))
                throw new StudioHttpException(400, $"feature_sites '{Clip(n, 60)}' is not a decoder resnet of this model (it has {string.Join(", ", info.DecoderResnets)})");
        if (names.Distinct(StringComparer.Ordinal).Count() != names.Length)
            throw new StudioHttpException(400, "feature_sites names a resnet twice");
        return names;
    }

    private (StudioGenerateRequest Request, StudioJobParameters Parameters) ReadParameters(IFormCollection form, (AudioClip Clip, string Label)? sound,
        bool hasImage, string? fixedScheduler)
    {
        var info = engine.Info;
        var (clip, label) = sound ?? (AudioClip.FromMono(new float[1], 44100), "none");
        var prompt = form["prompt"].ToString();
        var negative = form["negative_prompt"].ToString();
        if (prompt.Length > MaxPromptLength) throw new StudioHttpException(400, $"prompt is {prompt.Length} characters, over the {MaxPromptLength} limit");
        if (negative.Length > MaxPromptLength) throw new StudioHttpException(400, $"negative_prompt is {negative.Length} characters, over the {MaxPromptLength} limit");
        double guidance = Number(form, "guidance", info.DefaultGuidance, 0, 30);
        double beta = Number(form, "beta", info.DefaultBeta, 0, 4);
        int steps = (int)Number(form, "steps", info.DefaultSteps, 1, options.MaxSteps, integer: true);
        var seedText = form["seed"].ToString().Trim();
        long seed = seedText.Length == 0 ? Random.Shared.NextInt64(0, 1L << 32) : (long)Number(form, "seed", 0, 0, (1L << 53) - 1, integer: true);
        var schedulerText = form["scheduler"].ToString().Trim();
        var scheduler = fixedScheduler ?? (schedulerText.Length == 0 ? info.DefaultScheduler
            : SchedulerFactory.Canonical(schedulerText) ?? throw new StudioHttpException(400, $"scheduler '{Clip(schedulerText, 40)}' is unknown (use {string.Join(", ", SchedulerFactory.Names)})"));
        var request = new StudioGenerateRequest
        {
            Audio = clip, AudioLabel = label, Prompt = prompt, NegativePrompt = negative, Guidance = guidance, Beta = beta,
            Steps = steps, Seed = seed, Scheduler = scheduler, PreviewEvery = options.PreviewEvery,
        };
        return (request, new StudioJobParameters(prompt, negative, guidance, beta, steps, seed, scheduler, label, hasImage));
    }

    private static byte[] ReadFile(IFormFile file, long limit, string what)
    {
        if (file.Length > limit)
            throw new StudioHttpException(413, $"{what} is {file.Length.ToString("N0", CultureInfo.InvariantCulture)} bytes, over the {Mb(limit)} limit");
        var bytes = new byte[file.Length];
        using var s = file.OpenReadStream();
        s.ReadExactly(bytes);
        return bytes;
    }

    private static double Number(IFormCollection form, string key, double fallback, double min, double max, bool integer = false)
    {
        var text = form[key].ToString().Trim();
        if (text.Length == 0) return fallback;
        if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) || !double.IsFinite(v))
            throw new StudioHttpException(400, $"{key} '{Clip(text, 40)}' is not a number");
        if (integer && v != Math.Floor(v)) throw new StudioHttpException(400, $"{key} {text} must be a whole number");
        if (v < min || v > max)
            throw new StudioHttpException(400, $"{key} {text} is out of range [{min.ToString(CultureInfo.InvariantCulture)}, {max.ToString(CultureInfo.InvariantCulture)}]");
        return v;
    }

    private static string Mb(long bytes) => $"{bytes / (1024.0 * 1024.0):0.#} MiB";

    private static string Clip(string s, int n)
    {
        var clean = new string(s.Where(c => !char.IsControl(c)).ToArray());
        return clean.Length <= n ? clean : clean[..n] + "…";
    }
}
