using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Schedulers;
using SonicDiffusion.Studio.Engines;
using SonicDiffusion.Studio.Jobs;

namespace SonicDiffusion.Studio;

/// <summary>The /api endpoints.</summary>
public static class StudioApi
{
    public static void Map(WebApplication app)
    {
        var api = app.MapGroup("/api").AddEndpointFilter(async (ctx, next) =>
        {
            try { return await next(ctx); }
            catch (StudioHttpException e) { return Results.Json(new StudioError(e.Message), statusCode: e.Status); }
            catch (SonicException e) { return Results.Json(new StudioError(e.Message), statusCode: 400); }
        });

        api.MapGet("/info", (IStudioEngine engine, StudioOptions o) => new StudioInfoView(engine.Info, SchedulerFactory.Names,
                o.AudioUploadLimit, o.ImageUploadLimit, o.MaxImagePixels, o.MaxSteps, o.MaxQueuedJobs, o.MaxStoredResults, o.PreviewEvery))
            .WithSummary("The loaded model, the defaults of the controls and the limits");

        api.MapGet("/samples", (SampleLibrary samples) => samples.Samples
                .Select(s => new StudioSampleView(s.Id, s.Name, s.Format, s.DurationSeconds, s.Bytes, $"/api/samples/{s.Id}/audio")).ToList())
            .WithSummary("The bundled sample sounds");

        api.MapGet("/samples/{id}/audio", (string id, SampleLibrary samples) =>
            {
                var s = samples.Find(id) ?? throw new StudioHttpException(404, "sample not found");
                return Results.Bytes(samples.ReadBytes(s), s.ContentType);
            })
            .WithSummary("A sample's audio file");

        api.MapPost("/audio/analysis", async (HttpRequest req, StudioRequestReader reader, ClapFrontEnd frontEnd, CancellationToken ct) =>
            {
                var form = await StudioRequestReader.ReadFormAsync(req, ct);
                var sound = reader.ReadSound(form) ?? throw new StudioHttpException(400, "give a sound: an 'audio' file or a 'sample' id");
                return SoundView.Analyze(sound.Clip, frontEnd);
            })
            .Accepts<SoundForm>("multipart/form-data")
            .Produces<SoundAnalysis>()
            .WithSummary("Waveform peaks and the model's log-mel spectrogram (PNG data URL) of a sound");

        api.MapPost("/generate", async (HttpRequest req, StudioRequestReader reader, StudioJobQueue queue, CancellationToken ct) =>
            {
                var form = await StudioRequestReader.ReadFormAsync(req, ct);
                var (request, parameters) = reader.ReadGeneration(form, hasImage: false);
                var job = queue.Enqueue(StudioJobKind.Generate, new StudioJobInput(request), parameters);
                return Results.Accepted($"/api/jobs/{job.Id}", StudioJobView.Of(job));
            })
            .Accepts<GenerateForm>("multipart/form-data")
            .Produces<StudioJobView>(StatusCodes.Status202Accepted)
            .WithSummary("Queue a generation from a sound (and prompt); returns the job");

        api.MapPost("/edit", async (HttpRequest req, IStudioEngine engine, StudioRequestReader reader, StudioJobQueue queue, CancellationToken ct) =>
            {
                if (!engine.Info.CanEdit) throw new StudioHttpException(501, "editing is not available with this model");
                var form = await StudioRequestReader.ReadFormAsync(req, ct);
                var (request, parameters) = reader.ReadEdit(form);
                var job = queue.Enqueue(StudioJobKind.Edit, new StudioJobInput(request.Generation, request), parameters);
                return Results.Accepted($"/api/jobs/{job.Id}", StudioJobView.Of(job));
            })
            .Accepts<EditForm>("multipart/form-data")
            .Produces<StudioJobView>(StatusCodes.Status202Accepted)
            .Produces<StudioError>(StatusCodes.Status400BadRequest)
            .Produces<StudioError>(StatusCodes.Status413PayloadTooLarge)
            .WithSummary("Queue an edit of an image by a sound (DDIM inversion + Plug-and-Play injection, as sonic edit); returns the job")
            .WithDescription("The edited image has the source's size. Without a sound, a prompt gives a text-only edit (a model without audio adapters needs the prompt). "
                + "Events: step {step,total,phase} with phase 'invert' (0..N, or only N with detail 'cached') then 'edit' (0..N), previews {step,total,phase,image}, done.");

        api.MapGet("/jobs", (StudioJobQueue queue) =>
            {
                var jobs = queue.Jobs;
                return new StudioQueueView(queue.Running?.Id,
                    jobs.Where(j => j.State == StudioJobState.Queued).OrderBy(j => j.Position).Select(j => j.Id).ToList(),
                    jobs.Select(StudioJobView.Of).ToList());
            })
            .WithSummary("The queue and the kept results");

        api.MapGet("/jobs/{id}", (string id, StudioJobQueue queue) => StudioJobView.Of(Find(queue, id)))
            .WithSummary("One job's state, progress and result metadata");

        api.MapDelete("/jobs/{id}", (string id, StudioJobQueue queue) =>
            {
                var job = Find(queue, id);
                bool wasFinished = job.IsFinished;
                if (!queue.CancelOrRemove(job)) throw new StudioHttpException(404, $"job {id} not found");
                return wasFinished ? Results.NoContent() : Results.Accepted($"/api/jobs/{id}", StudioJobView.Of(job));
            })
            .WithSummary("Cancel a waiting or running job (202), or delete a finished one with its image (204)");

        api.MapGet("/jobs/{id}/image", (string id, StudioJobQueue queue) =>
            {
                var job = Find(queue, id);
                if (job.Result is not { } result)
                    throw new StudioHttpException(409, job.IsFinished ? $"job {id} has no image ({job.State.ToString().ToLowerInvariant()})" : $"job {id} is not finished yet");
                var seed = job.Parameters.Seed;
                return Results.File(result.Png, "image/png", $"sonic-{job.Id[..8]}-seed{seed}.png");
            })
            .Produces(StatusCodes.Status200OK, contentType: "image/png")
            .WithSummary("The finished image: PNG with every parameter as text chunks");

        api.MapGet("/jobs/{id}/events", async (string id, StudioJobQueue queue, HttpContext http, CancellationToken ct) =>
            {
                var job = Find(queue, id);
                var res = http.Response;
                res.ContentType = "text/event-stream";
                res.Headers.CacheControl = "no-cache";
                res.Headers["X-Accel-Buffering"] = "no";
                await res.Body.FlushAsync(ct);
                try
                {
                    await foreach (var e in job.Subscribe(ct))
                    {
                        await res.WriteAsync($"id: {e.Id}\nevent: {e.Type}\ndata: {e.Json}\n\n", Encoding.UTF8, ct);
                        await res.Body.FlushAsync(ct);
                    }
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
            })
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .WithSummary("Server-sent events: queued {position}, started, step {step,total,phase}, preview {step,total,phase,image}, done {image_url,width,height,metadata}, error {message}, cancelled {message}");
    }

    private static StudioJob Find(StudioJobQueue queue, string id) =>
        queue.Find(id) ?? throw new StudioHttpException(404, $"job {(id.Length <= 64 ? id : id[..64])} not found");
}

/// <summary>multipart/form-data of POST /api/audio/analysis (for the OpenAPI document).</summary>
public sealed class SoundForm
{
    /// <summary>A sound file: WAV, FLAC, MP3 or Ogg Vorbis (detected from the content), at most 50 MiB.</summary>
    public IFormFile? Audio { get; set; }
    /// <summary>Or the id of a bundled sample (GET /api/samples).</summary>
    public string? Sample { get; set; }
}

/// <summary>multipart/form-data of POST /api/generate (for the OpenAPI document).</summary>
public class GenerateForm
{
    public IFormFile? Audio { get; set; }
    public string? Sample { get; set; }
    public string? Prompt { get; set; }
    public string? NegativePrompt { get; set; }
    public double? Guidance { get; set; }
    /// <summary>β, the scale of the gated audio attention.</summary>
    public double? Beta { get; set; }
    public int? Steps { get; set; }
    /// <summary>Empty: a random seed (returned in the job's parameters).</summary>
    public long? Seed { get; set; }
    /// <summary>pndm, ddim or dpm++2m.</summary>
    public string? Scheduler { get; set; }
}

/// <summary>multipart/form-data of POST /api/edit (for the OpenAPI document). Scheduler is ignored: edits use DDIM.</summary>
public sealed class EditForm : GenerateForm
{
    /// <summary>The image to edit (PNG, JPEG, WebP, GIF, BMP, detected from the content), at most 20 MiB and 16 megapixels.</summary>
    public IFormFile? Image { get; set; }
    /// <summary>Fraction of the steps with residual-feature injection, 0–1 (default 0.8, the official demo's).</summary>
    public double? FeatureInjection { get; set; }
    /// <summary>Fraction of the steps with self-attention q/k injection, 0–1 (default 0.8, the official demo's).</summary>
    public double? AttnInjection { get; set; }
    /// <summary>Decoder resnets for feature injection, comma-separated (e.g. up_blocks.1.resnets.1,up_blocks.2.resnets.0); empty = the official sites. /api/info lists them.</summary>
    public string? FeatureSites { get; set; }
    /// <summary>resize (default: shorter side to the model's size), crop (centre square) or pad.</summary>
    public string? Fit { get; set; }
}
