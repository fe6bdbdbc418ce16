using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.TestHost;
using SonicDiffusion.Core;
using SonicDiffusion.Imaging;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Studio;
using SonicDiffusion.Tests.Infrastructure;

namespace SonicDiffusion.Tests;

/// <summary>The studio API on the ASP.NET test server, with the tiny random SD model behind the real engine.</summary>
public class StudioApiTests(StudioTestModel studio) : IClassFixture<StudioTestModel>
{
    internal static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    public sealed record Sse(long Id, string Type, JsonElement Data);

    internal static MultipartFormDataContent Form(params (string Key, string Value)[] fields)
    {
        var form = new MultipartFormDataContent();
        foreach (var (k, v) in fields) form.Add(new StringContent(v), k);
        return form;
    }

    internal static async Task<JsonElement> Json(HttpResponseMessage res) =>
        JsonDocument.Parse(await res.Content.ReadAsStringAsync()).RootElement.Clone();

    private static async Task<string> Submit(HttpClient client, params (string, string)[] fields)
    {
        var res = await client.PostAsync("/api/generate", Form(fields));
        var body = await Json(res);
        Assert.True(res.StatusCode == HttpStatusCode.Accepted, $"{res.StatusCode}: {body}");
        return body.GetProperty("id").GetString()!;
    }

    /// <summary>Reads a job's event stream to its end; <paramref name="onEvent"/> sees each event as it arrives.</summary>
    internal static async Task<List<Sse>> Events(HttpClient client, string id, Func<Sse, Task>? onEvent = null)
    {
        using var cts = new CancellationTokenSource(Patience);
        using var res = await client.GetAsync($"/api/jobs/{id}/events", HttpCompletionOption.ResponseHeadersRead, cts.Token);
        Assert.Equal(HttpStatusCode.OK, res.StatusCode);
        Assert.Equal("text/event-stream", res.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await res.Content.ReadAsStreamAsync(cts.Token));
        var list = new List<Sse>();
        long eventId = 0;
        string type = "", data = "";
        while (await reader.ReadLineAsync(cts.Token) is { } line)
        {
            if (line.StartsWith("id: ")) eventId = long.Parse(line[4..]);
            else if (line.StartsWith("event: ")) type = line[7..];
            else if (line.StartsWith("data: ")) data = line[6..];
            else if (line.Length == 0 && type.Length > 0)
            {
                var e = new Sse(eventId, type, JsonDocument.Parse(data).RootElement.Clone());
                list.Add(e);
                if (onEvent is not null) await onEvent(e);
                type = data = "";
            }
        }
        return list;
    }

    internal static Dictionary<string, string> PngMeta(byte[] png)
    {
        using var tmp = new TempDir();
        File.WriteAllBytes(tmp.File("x.png"), png);
        return PngText.Read(tmp.File("x.png"));
    }

    [Fact]
    public async Task GeneratesEndToEndWithTheSonicPipeline()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options());
        var client = app.GetTestClient();

        var samples = await Json(await client.GetAsync("/api/samples"));
        Assert.Equal(new[] { "raining", "thunder" }, samples.EnumerateArray().Select(s => s.GetProperty("id").GetString()).ToArray());
        var info = (await Json(await client.GetAsync("/api/info"))).GetProperty("model");
        Assert.True(info.GetProperty("uses_audio").GetBoolean());

        var id = await Submit(client, ("sample", "raining"), ("prompt", "a lake"), ("steps", "4"), ("guidance", "5"), ("beta", "0.8"), ("seed", "7"), ("scheduler", "ddim"));
        var events = await Events(client, id);
        Assert.Equal("done", events[^1].Type);

        var job = await Json(await client.GetAsync($"/api/jobs/{id}"));
        Assert.Equal("done", job.GetProperty("state").GetString());
        Assert.Equal(7, job.GetProperty("parameters").GetProperty("seed").GetInt64());
        Assert.Equal("sample raining", job.GetProperty("parameters").GetProperty("audio").GetString());

        var res = await client.GetAsync($"/api/jobs/{id}/image");
        Assert.Equal("image/png", res.Content.Headers.ContentType?.MediaType);
        Assert.Contains("seed7", res.Content.Headers.ContentDisposition?.FileName);
        var png = await res.Content.ReadAsByteArrayAsync();
        var meta = PngMeta(png);
        Assert.Equal("7", meta["seed"]);
        Assert.Equal("4", meta["steps"]);
        Assert.Equal("ddim", meta["scheduler"]);
        Assert.Equal("0.8", meta["beta"]);
        Assert.Equal("a lake", meta["prompt"]);
        Assert.Equal("sample raining", meta["audio"]);
        Assert.Equal("tiny-sonic", meta["model"]);
        Assert.DoesNotContain(meta.Values, v => v.Contains(Path.GetTempPath()));

        // The studio's image is the one `sonic generate` makes from the sample file with the same parameters.
        var pipe = new AudioToImagePipeline(studio.Sonic);
        using var expected = pipe.Generate(new AudioToImageRequest
        {
            Audio = Path.Combine(studio.SamplesFolder, "raining.wav"), Prompt = "a lake", Steps = 4, Guidance = 5, Beta = 0.8, Seed = 7,
            Scheduler = "ddim", Width = 64, Height = 64,
        });
        pipe.ClearCache();
        using var got = ImageTensor.Decode(png, "studio png");
        Assert.Equal(ImageTensor.ToRgba(expected, out _, out _), ImageTensor.ToRgba(got, out int w, out int h));
        Assert.Equal((64, 64), (w, h));

        // Another sound, same seed: the studio renders that sound (the pipeline's image for it, which differs from the first
        // in float; the tiny random adapters may be too weak to change every 8-bit pixel, so the routing is checked exactly).
        var other = await Submit(client, ("sample", "thunder"), ("prompt", "a lake"), ("steps", "4"), ("guidance", "5"), ("beta", "0.8"), ("seed", "7"), ("scheduler", "ddim"));
        Assert.Equal("done", (await Events(client, other))[^1].Type);
        using var otherImage = ImageTensor.Decode(await client.GetByteArrayAsync($"/api/jobs/{other}/image"), "other");
        using var otherExpected = pipe.Generate(new AudioToImageRequest
        {
            Audio = Path.Combine(studio.SamplesFolder, "thunder.wav"), Prompt = "a lake", Steps = 4, Guidance = 5, Beta = 0.8, Seed = 7,
            Scheduler = "ddim", Width = 64, Height = 64,
        });
        pipe.ClearCache();
        Assert.Equal(ImageTensor.ToRgba(otherExpected, out _, out _), ImageTensor.ToRgba(otherImage, out _, out _));
        Assert.True((otherExpected - expected).abs().max().item<float>() > 0, "a different sound must change the image");
    }

    [Fact]
    public async Task APlainSdModelRunsTextToImageAndSaysTheSoundIsUnused()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options(o => o with { Engine = studio.TextOnlyEngine }));
        var client = app.GetTestClient();
        var info = (await Json(await client.GetAsync("/api/info"))).GetProperty("model");
        Assert.False(info.GetProperty("uses_audio").GetBoolean());
        Assert.Contains("does not steer the image", info.GetProperty("note").GetString());

        var id = await Submit(client, ("sample", "raining"), ("prompt", "a campfire at night"), ("steps", "4"), ("guidance", "5"), ("seed", "7"), ("scheduler", "ddim"));
        Assert.Equal("done", (await Events(client, id))[^1].Type);
        var png = await client.GetByteArrayAsync($"/api/jobs/{id}/image");
        var meta = PngMeta(png);
        Assert.Equal("none (plain Stable Diffusion model)", meta["audio_conditioning"]);

        // The same image `sonic txt2img` makes with the same parameters.
        var pipe = new TextToImagePipeline(studio.Components);
        using var expected = pipe.Generate(new TextToImageRequest { Prompt = "a campfire at night", Steps = 4, Guidance = 5, Seed = 7, Scheduler = "ddim", Width = 64, Height = 64 });
        using var got = ImageTensor.Decode(png, "studio png");
        Assert.Equal(ImageTensor.ToRgba(expected, out _, out _), ImageTensor.ToRgba(got, out _, out _));

        // Without a sound it still runs (the sound is optional for a text-only model).
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsync("/api/generate", Form(("steps", "2")))).StatusCode);
    }

    [Fact]
    public async Task EventsComeInOrderWithQueuePositionsStepsAndPreviews()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options());
        var client = app.GetTestClient();
        var a = await Submit(client, ("sample", "raining"), ("steps", "30"), ("seed", "1"));
        var b = await Submit(client, ("sample", "raining"), ("steps", "4"), ("seed", "2"));
        var c = await Submit(client, ("sample", "thunder"), ("steps", "6"), ("seed", "3"), ("scheduler", "pndm"));

        var queue = await Json(await client.GetAsync("/api/jobs"));
        Assert.Equal(3, queue.GetProperty("jobs").GetArrayLength());

        var ev = await Events(client, c);
        var types = ev.Select(e => e.Type).ToList();
        Assert.True(ev.Zip(ev.Skip(1)).All(p => p.First.Id < p.Second.Id), "event ids increase");

        // Waiting: positions count down to 1, then it starts.
        int started = types.IndexOf("started");
        var positions = ev.Take(started).Select(e => { Assert.Equal("queued", e.Type); return e.Data.GetProperty("position").GetInt32(); }).ToList();
        Assert.True(positions[0] >= 2, $"third job first waits behind another: {string.Join(",", positions)}");
        Assert.Equal(1, positions[^1]);
        Assert.True(positions.Zip(positions.Skip(1)).All(p => p.First > p.Second), "positions only go down");

        // Running: steps 0..N in order (PNDM: 6 steps = 7 model calls), previews every 2 calls, then done.
        var steps = ev.Where(e => e.Type == "step").Select(e => e.Data.GetProperty("step").GetInt32()).ToList();
        Assert.Equal(Enumerable.Range(0, 8).ToList(), steps);
        Assert.All(ev.Where(e => e.Type == "step"), e => Assert.Equal(7, e.Data.GetProperty("total").GetInt32()));
        var previews = ev.Where(e => e.Type == "preview").ToList();
        Assert.Equal(new[] { 2, 4, 6 }, previews.Select(p => p.Data.GetProperty("step").GetInt32()));
        Assert.StartsWith("data:image/png;base64,", previews[0].Data.GetProperty("image").GetString());
        int lastPreview = types.LastIndexOf("preview");
        Assert.True(lastPreview > started && lastPreview < types.IndexOf("done"));
        Assert.Equal("done", types[^1]);
        Assert.Equal(1, types.Count(t => t == "done"));
        Assert.Equal($"/api/jobs/{c}/image", ev[^1].Data.GetProperty("image_url").GetString());
        Assert.Equal("3", ev[^1].Data.GetProperty("metadata").GetProperty("seed").GetString());

        // A late subscriber gets the whole story again, without the previews.
        var replay = await Events(client, c);
        Assert.Equal(types.Where(t => t != "preview"), replay.Select(e => e.Type));
        foreach (var id in new[] { a, b })
            Assert.Equal("done", (await Json(await client.GetAsync($"/api/jobs/{id}"))).GetProperty("state").GetString());
    }

    [Fact]
    public async Task CancelsRunningAndWaitingJobs()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options(o => o with { MaxSteps = 1000, MaxQueuedJobs = 1 }));
        var client = app.GetTestClient();
        var running = await Submit(client, ("sample", "raining"), ("steps", "500"), ("seed", "1"), ("scheduler", "ddim"));
        var waiting = await Submit(client, ("sample", "raining"), ("steps", "4"));

        var full = await client.PostAsync("/api/generate", Form(("sample", "raining"), ("steps", "4")));
        Assert.Equal(HttpStatusCode.TooManyRequests, full.StatusCode);
        Assert.Contains("queue is full", (await Json(full)).GetProperty("error").GetString());

        var del = await client.DeleteAsync($"/api/jobs/{waiting}");
        Assert.Equal(HttpStatusCode.Accepted, del.StatusCode);
        var w = await Json(await client.GetAsync($"/api/jobs/{waiting}"));
        Assert.Equal("cancelled", w.GetProperty("state").GetString());
        Assert.Equal("cancelled", (await Events(client, waiting))[^1].Type);

        bool sent = false;
        var ev = await Events(client, running, async e =>
        {
            if (e.Type == "step" && e.Data.GetProperty("step").GetInt32() >= 2 && !sent)
            {
                sent = true;
                Assert.Equal(HttpStatusCode.Accepted, (await client.DeleteAsync($"/api/jobs/{running}")).StatusCode);
            }
        });
        Assert.True(ev[^1].Type == "cancelled", $"{ev[^1].Type}: {ev[^1].Data}");
        Assert.DoesNotContain(ev, e => e.Type == "done");
        int lastStep = ev.Where(e => e.Type == "step").Max(e => e.Data.GetProperty("step").GetInt32());
        Assert.InRange(lastStep, 2, 499);
        var job = await Json(await client.GetAsync($"/api/jobs/{running}"));
        Assert.Equal("cancelled", job.GetProperty("state").GetString());
        Assert.Equal(HttpStatusCode.Conflict, (await client.GetAsync($"/api/jobs/{running}/image")).StatusCode);

        // A finished job is deleted with its image.
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/api/jobs/{running}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/jobs/{running}")).StatusCode);
    }

    [Fact]
    public async Task OversizeAudioIs413()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options());
        var client = app.GetTestClient();
        var form = new MultipartFormDataContent();
        var big = new byte[50 * 1024 * 1024 + 1];
        "RIFF"u8.CopyTo(big);
        form.Add(new ByteArrayContent(big), "audio", "big.wav");
        var res = await client.PostAsync("/api/generate", form);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, res.StatusCode);
        var error = (await Json(res)).GetProperty("error").GetString()!;
        Assert.Equal("audio upload is 52,428,801 bytes, over the 50 MiB limit", error);
        Assert.Equal(0, (await Json(await client.GetAsync("/api/jobs"))).GetProperty("jobs").GetArrayLength());
    }

    [Theory]
    [InlineData("this is not a sound at all", "audio upload: not a supported audio file")]
    [InlineData("\u001aE\u00df\u00a3 webm", "audio upload: not a supported audio file")]
    [InlineData("RIFF\u0004\0\0\0WAVE", "audio upload:")]
    public async Task GarbageAudioIs400WithTheReadersMessage(string content, string expected)
    {
        await using var app = await studio.StartTestServerAsync(studio.Options());
        var client = app.GetTestClient();
        foreach (var path in new[] { "/api/generate", "/api/audio/analysis" })
        {
            var form = new MultipartFormDataContent();
            form.Add(new ByteArrayContent(Encoding.Latin1.GetBytes(content)), "audio", "../../etc/passwd.wav");
            var res = await client.PostAsync(path, form);
            Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
            var error = (await Json(res)).GetProperty("error").GetString()!;
            Assert.StartsWith(expected, error);
            Assert.DoesNotContain('\n', error);
            Assert.DoesNotContain("passwd", error);
        }
    }

    [Fact]
    public async Task BadParametersAndUnknownSamplesAreRefused()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options());
        var client = app.GetTestClient();
        async Task<(HttpStatusCode, string)> Post(params (string, string)[] f)
        {
            var res = await client.PostAsync("/api/generate", Form(f.Prepend(("sample", "raining")).ToArray()));
            return (res.StatusCode, (await Json(res)).GetProperty("error").GetString()!);
        }
        Assert.Equal((HttpStatusCode.BadRequest, "steps 0 is out of range [1, 150]"), await Post(("steps", "0")));
        Assert.Equal((HttpStatusCode.BadRequest, "guidance 'lots' is not a number"), await Post(("guidance", "lots")));
        Assert.Equal((HttpStatusCode.BadRequest, "seed 1.5 must be a whole number"), await Post(("seed", "1.5")));
        Assert.StartsWith("scheduler 'euler' is unknown", (await Post(("scheduler", "euler"))).Item2);
        var noSound = await client.PostAsync("/api/generate", Form(("steps", "2")));
        Assert.Equal(HttpStatusCode.BadRequest, noSound.StatusCode);
        Assert.Equal("give a sound: an 'audio' file or a 'sample' id", (await Json(noSound)).GetProperty("error").GetString());
        var traversal = await client.PostAsync("/api/generate", Form(("sample", "../samples/raining.wav")));
        var (code, msg) = (traversal.StatusCode, (await Json(traversal)).GetProperty("error").GetString()!);
        Assert.Equal(HttpStatusCode.NotFound, code);
        Assert.StartsWith("sample '../samples/raining.wav' not found", msg);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, (await client.PostAsync("/api/generate", new StringContent("{}"))).StatusCode);
    }

    [Fact]
    public async Task UnknownJobIs404()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options());
        var client = app.GetTestClient();
        const string id = "0123456789abcdef0123456789abcdef";
        foreach (var path in new[] { $"/api/jobs/{id}", $"/api/jobs/{id}/events", $"/api/jobs/{id}/image", "/api/jobs/..%2F..%2Fetc%2Fpasswd" })
        {
            var res = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.NotFound, res.StatusCode);
            Assert.Contains("not found", (await Json(res)).GetProperty("error").GetString());
        }
        Assert.Equal(HttpStatusCode.NotFound, (await client.DeleteAsync($"/api/jobs/{id}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/api/samples/nope/audio")).StatusCode);
    }

    [Fact]
    public async Task TokenIsEnforcedOnEveryApiCall()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options(o => o with { Token = "s3cret-token" }));
        var client = app.GetTestClient();
        foreach (var path in new[] { "/api/info", "/api/samples", "/api/jobs", "/api/jobs/x/events" })
        {
            var res = await client.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, res.StatusCode);
            Assert.Equal("Bearer", res.Headers.WwwAuthenticate.ToString());
        }
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.PostAsync("/api/generate", Form(("steps", "2")))).StatusCode);
        Assert.Equal(0, studioJobs(app));

        var wrong = new HttpRequestMessage(HttpMethod.Get, "/api/info");
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret-tokeN");
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.SendAsync(wrong)).StatusCode);

        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "s3cret-token");
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/info")).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsync("/api/generate", Form(("sample", "raining"), ("steps", "2")))).StatusCode);

        // The page itself loads without the token (it asks for one).
        var anonymous = app.GetTestClient();
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/")).StatusCode);
    }

    private static int studioJobs(WebApplication app) =>
        ((Studio.Jobs.StudioJobQueue)app.Services.GetService(typeof(Studio.Jobs.StudioJobQueue))!).Jobs.Count;

    [Theory]
    [InlineData("http://127.0.0.1:5000", null, true)]
    [InlineData("http://localhost:5000;http://[::1]:5001", null, true)]
    [InlineData("http://0.0.0.0:5000", "t", false)]
    [InlineData("http://192.168.1.20:5000", "t", false)]
    public void LoopbackByDefaultAndATokenForAnythingElse(string urls, string? token, bool loopback)
    {
        Assert.Equal(loopback, StudioHost.CheckBinding(urls, token));
        if (!loopback)
        {
            var e = Assert.Throws<SonicException>(() => StudioHost.CheckBinding(urls, null));
            Assert.Contains("needs --token", e.Message);
        }
    }

    [Fact]
    public async Task ForeignHostsAndCrossOriginWritesAreRefused()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options());
        var client = app.GetTestClient();
        var rebinding = new HttpRequestMessage(HttpMethod.Get, "/api/info");
        rebinding.Headers.Host = "evil.example";
        Assert.Equal(HttpStatusCode.BadRequest, (await client.SendAsync(rebinding)).StatusCode);
        var cross = new HttpRequestMessage(HttpMethod.Post, "/api/generate") { Content = Form(("steps", "2")) };
        cross.Headers.Add("Origin", "https://evil.example");
        Assert.Equal(HttpStatusCode.Forbidden, (await client.SendAsync(cross)).StatusCode);
    }

    [Fact]
    public async Task ResultStoreIsBoundedOldestFirst()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options(o => o with { MaxStoredResults = 2 }));
        var client = app.GetTestClient();
        var ids = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            ids.Add(await Submit(client, ("sample", "thunder"), ("steps", "2"), ("seed", i.ToString())));
            await Events(client, ids[^1]);
        }
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/api/jobs/{ids[0]}/image")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/jobs/{ids[1]}/image")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/api/jobs/{ids[2]}/image")).StatusCode);
    }

    [Fact]
    public async Task AnalysisDrawsTheModelsLogMel()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options());
        var client = app.GetTestClient();
        var a = await Json(await client.PostAsync("/api/audio/analysis", Form(("sample", "thunder"))));
        Assert.Equal(44100, a.GetProperty("sample_rate").GetInt32());
        Assert.Equal(1.5, a.GetProperty("duration_seconds").GetDouble(), 3);
        Assert.Equal(600, a.GetProperty("peak_min").GetArrayLength());
        Assert.Equal(1379, a.GetProperty("spectrogram_frames").GetInt32());
        Assert.Equal(64, a.GetProperty("spectrogram_mels").GetInt32());
        var uri = a.GetProperty("spectrogram").GetString()!;
        Assert.StartsWith("data:image/png;base64,", uri);
        using var img = ImageTensor.Decode(Convert.FromBase64String(uri["data:image/png;base64,".Length..]), "spectrogram");
        Assert.Equal(new long[] { 1, 3, 128, 690 }, img.shape);
        Assert.True(img.std().item<float>() > 0.05f, "the spectrogram is not flat");
    }

    [Fact]
    public async Task ServesThePageAndAnOpenApiDocument()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options());
        var client = app.GetTestClient();
        var page = await client.GetAsync("/");
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("SonicDiffusion Studio", await page.Content.ReadAsStringAsync());
        Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        foreach (var asset in new[] { "/studio.js", "/studio.css", "/favicon.svg" })
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync(asset)).StatusCode);
        var doc = await Json(await client.GetAsync("/openapi/v1.json"));
        var paths = doc.GetProperty("paths");
        foreach (var p in new[] { "/api/generate", "/api/edit", "/api/jobs/{id}", "/api/jobs/{id}/events", "/api/jobs/{id}/image", "/api/samples" })
            Assert.True(paths.TryGetProperty(p, out _), $"OpenAPI document lacks {p}");
    }
}

/// <summary>The edit form's image checks, on the reader itself (the HTTP answers are in <see cref="StudioEditTests"/>).</summary>
public class StudioImageUploadTests(StudioTestModel studio) : IClassFixture<StudioTestModel>
{
    private StudioRequestReader Reader() => new(studio.Options(), new SampleLibrary(null, 1), studio.Engine);

    private static Microsoft.AspNetCore.Http.FormCollection FormWith(byte[] image)
    {
        var files = new Microsoft.AspNetCore.Http.FormFileCollection
        {
            new Microsoft.AspNetCore.Http.FormFile(new MemoryStream(image), 0, image.Length, "image", "../../x.png"),
        };
        return new Microsoft.AspNetCore.Http.FormCollection(new(), files);
    }

    [Fact]
    public void ImagesOver20MiBAre413()
    {
        var e = Assert.Throws<StudioHttpException>(() => Reader().ReadImage(FormWith(new byte[20 * 1024 * 1024 + 1])));
        Assert.Equal(413, e.Status);
        Assert.Equal("image upload is 20,971,521 bytes, over the 20 MiB limit", e.Message);
    }

    [Fact]
    public void GarbageImagesAreOneLineErrors()
    {
        var e = Assert.Throws<SonicException>(() => Reader().ReadImage(FormWith(Encoding.ASCII.GetBytes("not an image"))));
        Assert.Equal("image upload: not a readable image (unknown or corrupt format)", e.Message);
    }

    [Fact]
    public void ARealImagePasses()
    {
        using var img = TorchSharp.torch.rand(1, 3, 16, 24);
        var png = ImageTensor.EncodePng(img);
        Assert.Equal(png, Reader().ReadImage(FormWith(png)));
    }
}
