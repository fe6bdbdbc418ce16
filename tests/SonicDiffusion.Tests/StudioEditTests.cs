using System.Buffers.Binary;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.TestHost;
using SonicDiffusion.Imaging;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Studio.Engines;
using SonicDiffusion.Tests.Infrastructure;
using static SonicDiffusion.Tests.StudioApiTests;

namespace SonicDiffusion.Tests;

/// <summary>POST /api/edit on the ASP.NET test server: the tiny random bundle behind the real ImageEditPipeline.</summary>
public class StudioEditTests(StudioTestModel studio) : IClassFixture<StudioTestModel>
{
    /// <summary>A smooth source image (PNG bytes) of the given size, also written as <paramref name="name"/> in the fixture's folder.</summary>
    private byte[] Source(int width, int height, string name)
    {
        var path = ImageEditPipelineTests.WriteSource(studio.Temp.File(name), width, height);
        return File.ReadAllBytes(path);
    }

    private static MultipartFormDataContent EditForm(byte[] image, params (string Key, string Value)[] fields)
    {
        var form = Form(fields);
        form.Add(new ByteArrayContent(image), "image", "../../photo.png");
        return form;
    }

    private static async Task<string> SubmitEdit(HttpClient client, byte[] image, params (string, string)[] fields)
    {
        var res = await client.PostAsync("/api/edit", EditForm(image, fields));
        var body = await Json(res);
        Assert.True(res.StatusCode == HttpStatusCode.Accepted, $"{res.StatusCode}: {body}");
        return body.GetProperty("id").GetString()!;
    }

    private static (string Phase, int Step) StepOf(Sse e) => (e.Data.GetProperty("phase").GetString()!, e.Data.GetProperty("step").GetInt32());

    [Fact]
    public async Task EditsEndToEndLikeTheEditPipeline()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options());
        var client = app.GetTestClient();
        var info = (await Json(await client.GetAsync("/api/info"))).GetProperty("model");
        Assert.True(info.GetProperty("can_edit").GetBoolean());
        Assert.Equal(0.8, info.GetProperty("default_feature_injection").GetDouble());
        Assert.Equal(0.8, info.GetProperty("default_attn_injection").GetDouble());

        var photo = Source(80, 48, "photo-80x48.png");
        var id = await SubmitEdit(client, photo, ("sample", "raining"), ("prompt", "a lake at dusk"), ("steps", "4"), ("guidance", "5"),
            ("beta", "0.8"), ("seed", "9"), ("scheduler", "pndm"));
        var events = await Events(client, id);
        Assert.True(events[^1].Type == "done", $"{events[^1].Type}: {events[^1].Data}");
        Assert.Equal((80, 48), (events[^1].Data.GetProperty("width").GetInt32(), events[^1].Data.GetProperty("height").GetInt32()));

        var job = await Json(await client.GetAsync($"/api/jobs/{id}"));
        Assert.Equal("edit", job.GetProperty("kind").GetString());
        var p = job.GetProperty("parameters");
        Assert.Equal("ddim", p.GetProperty("scheduler").GetString());
        Assert.Equal(0.8, p.GetProperty("feature_injection").GetDouble());
        Assert.Equal(0.8, p.GetProperty("attn_injection").GetDouble());
        Assert.Equal("resize", p.GetProperty("fit").GetString());
        Assert.True(p.GetProperty("has_image").GetBoolean());

        var png = await client.GetByteArrayAsync($"/api/jobs/{id}/image");
        var meta = PngMeta(png);
        Assert.Equal("pnp-audio", meta["edit_mode"]);
        Assert.Equal("upload", meta["source_image"]);
        Assert.Equal("sample raining", meta["audio"]);
        Assert.Equal("a lake at dusk", meta["prompt"]);
        Assert.Equal("0.8", meta["feature_injection"]);
        Assert.Equal("0.8", meta["attn_injection"]);
        Assert.Equal("0.8", meta["beta"]);
        Assert.Equal("4", meta["steps"]);
        Assert.Equal("9", meta["seed"]);
        Assert.Equal("ddim", meta["scheduler"]);
        Assert.Equal("tiny-sonic", meta["model"]);
        Assert.DoesNotContain(meta.Values, v => v.Contains(Path.GetTempPath()) || v.Contains("photo.png"));

        // The same pixels as ImageEditPipeline run directly on the files with the same parameters.
        var file = studio.Temp.File("photo-80x48.png");
        var pipe = new ImageEditPipeline(studio.Sonic);
        using var expected = pipe.Edit(new ImageEditRequest
        {
            Image = file, Audio = Path.Combine(studio.SamplesFolder, "raining.wav"), Prompt = "a lake at dusk", Steps = 4, Guidance = 5,
            Beta = 0.8, Seed = 9,
        });
        pipe.Audio!.ClearCache();
        using var got = ImageTensor.Decode(png, "studio png");
        Assert.Equal(new long[] { 1, 3, 48, 80 }, got.shape);
        Assert.Equal(ImageTensor.ToRgba(expected, out _, out _), ImageTensor.ToRgba(got, out _, out _));

        // The same photo again: the inversion comes from the server's cache, the edit is the pipeline's for that sound.
        var again = await SubmitEdit(client, photo, ("sample", "thunder"), ("prompt", "a lake at dusk"), ("steps", "4"), ("guidance", "5"), ("beta", "0.8"));
        var ev = await Events(client, again);
        Assert.Equal("done", ev[^1].Type);
        var invert = ev.Where(e => e.Type == "step" && StepOf(e).Phase == "invert").ToList();
        Assert.Single(invert);
        Assert.Equal(4, invert[0].Data.GetProperty("step").GetInt32());
        Assert.Equal("cached", invert[0].Data.GetProperty("detail").GetString());
        Assert.Equal(Enumerable.Range(0, 5), ev.Where(e => e.Type == "step" && StepOf(e).Phase == "edit").Select(e => StepOf(e).Step));
        using var thunder = pipe.Edit(new ImageEditRequest
        {
            Image = file, Audio = Path.Combine(studio.SamplesFolder, "thunder.wav"), Prompt = "a lake at dusk", Steps = 4, Guidance = 5, Beta = 0.8,
        });
        pipe.Audio.ClearCache();
        using var thunderGot = ImageTensor.Decode(await client.GetByteArrayAsync($"/api/jobs/{again}/image"), "again");
        Assert.Equal(ImageTensor.ToRgba(thunder, out _, out _), ImageTensor.ToRgba(thunderGot, out _, out _));
    }

    [Fact]
    public async Task TheOpenApiDocumentDescribesTheEditForm()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options());
        var client = app.GetTestClient();
        var doc = await client.GetStringAsync("/openapi/v1.json");
        var edit = JsonDocument.Parse(doc).RootElement.GetProperty("paths").GetProperty("/api/edit").GetProperty("post");
        var text = edit.GetRawText();
        foreach (var field in new[] { "image", "feature_injection", "attn_injection", "feature_sites", "fit", "audio", "sample", "prompt", "steps" })
            Assert.Contains($"\"{field}\"", doc);
        Assert.Contains("Plug-and-Play", text);
        foreach (var code in new[] { "202", "400", "413" }) Assert.True(edit.GetProperty("responses").TryGetProperty(code, out _), $"no {code} response");
    }

    [Fact]
    public async Task EditEventsComeInOrderInvertThenEdit()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options());
        var client = app.GetTestClient();
        var id = await SubmitEdit(client, Source(64, 72, "order.png"), ("sample", "thunder"), ("steps", "6"), ("seed", "3"),
            ("feature_injection", "0.5"), ("attn_injection", "0.25"));
        var ev = await Events(client, id);
        var types = ev.Select(e => e.Type).ToList();
        Assert.True(ev.Zip(ev.Skip(1)).All(p => p.First.Id < p.Second.Id), "event ids increase");
        Assert.Equal("queued", types[0]);
        Assert.Equal(1, ev[0].Data.GetProperty("position").GetInt32());
        Assert.Equal("started", types[1]);
        Assert.Equal("done", types[^1]);
        Assert.Equal(1, types.Count(t => t == "done"));

        // Steps: the inversion 0..6, then the edit 0..6, each with its total and phase.
        var steps = ev.Where(e => e.Type == "step").Select(StepOf).ToList();
        var expected = Enumerable.Range(0, 7).Select(i => ("invert", i)).Concat(Enumerable.Range(0, 7).Select(i => ("edit", i))).ToList();
        Assert.Equal(expected, steps);
        Assert.All(ev.Where(e => e.Type == "step"), e => Assert.Equal(6, e.Data.GetProperty("total").GetInt32()));

        // Previews every 2 model calls in each phase, each after the steps before it and before the next phase.
        var previews = ev.Where(e => e.Type == "preview").Select(StepOf).ToList();
        Assert.Equal(new[] { ("invert", 2), ("invert", 4), ("edit", 2), ("edit", 4) }, previews);
        int firstEdit = ev.FindIndex(e => e.Type == "step" && StepOf(e).Phase == "edit");
        Assert.All(ev.Select((e, i) => (e, i)).Where(x => x.e.Type == "preview"), x =>
            Assert.Equal(x.e.Data.GetProperty("phase").GetString() == "invert", x.i < firstEdit));
        Assert.StartsWith("data:image/png;base64,", ev.First(e => e.Type == "preview").Data.GetProperty("image").GetString());

        var meta = ev[^1].Data.GetProperty("metadata");
        Assert.Equal("0.5", meta.GetProperty("feature_injection").GetString());
        Assert.Equal("0.25", meta.GetProperty("attn_injection").GetString());
    }

    [Fact]
    public async Task CancelsAnEditDuringItsEditPhase()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options(o => o with { MaxSteps = 1000 }));
        var client = app.GetTestClient();
        const int n = 200;
        var id = await SubmitEdit(client, Source(64, 64, "cancel.png"), ("sample", "raining"), ("steps", n.ToString()));
        bool sent = false;
        var ev = await Events(client, id, async e =>
        {
            if (e.Type == "step" && StepOf(e) is ("edit", >= 2) && !sent)
            {
                sent = true;
                Assert.Equal(HttpStatusCode.Accepted, (await client.DeleteAsync($"/api/jobs/{id}")).StatusCode);
            }
        });
        Assert.True(ev[^1].Type == "cancelled", $"{ev[^1].Type}: {ev[^1].Data}");
        Assert.DoesNotContain(ev, e => e.Type == "done");
        Assert.InRange(ev.Where(e => e.Type == "step").Select(StepOf).Last(s => s.Phase == "edit").Step, 2, n - 1);
        Assert.Equal(HttpStatusCode.Conflict, (await client.GetAsync($"/api/jobs/{id}/image")).StatusCode);

        // The engine is fine afterwards (the PnP hooks were removed): a short edit runs to the end.
        var next = await SubmitEdit(client, Source(64, 64, "cancel.png"), ("sample", "raining"), ("steps", "2"));
        Assert.Equal("done", (await Events(client, next))[^1].Type);
    }

    [Fact]
    public async Task OversizeImagesAre413()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options());
        var client = app.GetTestClient();
        var big = new byte[20 * 1024 * 1024 + 1];
        Source(16, 16, "small.png").CopyTo(big, 0);
        var res = await client.PostAsync("/api/edit", EditForm(big, ("sample", "raining")));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, res.StatusCode);
        Assert.Equal("image upload is 20,971,521 bytes, over the 20 MiB limit", (await Json(res)).GetProperty("error").GetString());

        // A small file announcing 20000×20000 pixels is refused from its header, before any pixel is decoded.
        var huge = WithSize(Source(16, 16, "small.png"), 20000, 20000);
        Assert.Equal((20000, 20000), ImageTensor.Probe(huge, "x"));
        res = await client.PostAsync("/api/edit", EditForm(huge, ("sample", "raining")));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, res.StatusCode);
        Assert.Equal("image upload is 20000x20000 pixels, over the 16 megapixel limit", (await Json(res)).GetProperty("error").GetString());
        Assert.Equal(0, (await Json(await client.GetAsync("/api/jobs"))).GetProperty("jobs").GetArrayLength());
    }

    [Fact]
    public async Task BadImagesAndMissingInputsAre400WithOneLine()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options());
        var client = app.GetTestClient();
        async Task<string> Refused(MultipartFormDataContent form)
        {
            var res = await client.PostAsync("/api/edit", form);
            var error = (await Json(res)).GetProperty("error").GetString()!;
            Assert.True(res.StatusCode == HttpStatusCode.BadRequest, $"{res.StatusCode}: {error}");
            Assert.DoesNotContain('\n', error);
            Assert.DoesNotContain("photo.png", error);
            return error;
        }
        var photo = Source(64, 64, "bad-inputs.png");
        Assert.Equal("image upload: not a readable image (unknown or corrupt format)",
            await Refused(EditForm(Encoding.ASCII.GetBytes("this is not an image at all"), ("sample", "raining"))));
        Assert.Equal("image upload: image file is empty", await Refused(EditForm([], ("sample", "raining"))));
        Assert.Equal("image upload: image is 6x40; editing needs at least 8x8 pixels", await Refused(EditForm(Source(6, 40, "thin.png"), ("sample", "raining"))));
        Assert.StartsWith("image upload: image is 320x64, more than 4:1", await Refused(EditForm(Source(320, 64, "wide.png"), ("sample", "raining"))));
        Assert.Equal("an edit needs an image (form field 'image')", await Refused(Form(("sample", "raining"))));
        Assert.Equal("give a sound (an 'audio' file or a 'sample' id), or a prompt for a text-only edit", await Refused(EditForm(photo)));
        Assert.Equal("fit 'stretch' is unknown (use resize, crop or pad)", await Refused(EditForm(photo, ("sample", "raining"), ("fit", "stretch"))));
        Assert.Equal("feature_injection 1.5 is out of range [0, 1]", await Refused(EditForm(photo, ("sample", "raining"), ("feature_injection", "1.5"))));
        Assert.Equal(0, (await Json(await client.GetAsync("/api/jobs"))).GetProperty("jobs").GetArrayLength());

        // The wide image is accepted with another fit; a prompt without a sound is a text-only edit.
        var crop = await SubmitEdit(client, Source(320, 64, "wide.png"), ("sample", "raining"), ("fit", "crop"), ("steps", "2"));
        var done = (await Events(client, crop))[^1];
        Assert.Equal("done", done.Type);
        Assert.Equal((64, 64), (done.Data.GetProperty("width").GetInt32(), done.Data.GetProperty("height").GetInt32()));
        var text = await SubmitEdit(client, photo, ("prompt", "a red barn"), ("steps", "2"));
        var textDone = (await Events(client, text))[^1];
        Assert.Equal("done", textDone.Type);
        Assert.Equal("pnp-text", textDone.Data.GetProperty("metadata").GetProperty("edit_mode").GetString());
    }

    [Fact]
    public async Task FeatureSitesAreListedChosenRecordedAndChecked()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options());
        var client = app.GetTestClient();
        var info = (await Json(await client.GetAsync("/api/info"))).GetProperty("model");
        var all = info.GetProperty("decoder_resnets").EnumerateArray().Select(e => e.GetString()!).ToList();
        var defaults = info.GetProperty("default_feature_sites").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Equal(PnpInjection.DecoderResnetNames(studio.Sonic.Sd.Unet), all);
        Assert.Equal(PnpInjection.Sites(studio.Sonic.Sd.Unet).Conv.Select(c => c.Name), defaults);
        Assert.NotEmpty(defaults);
        string other = all.Last(n => !defaults.Contains(n));
        string chosen = $"{defaults[0]},{other}";

        var photo = Source(64, 64, "sites.png");
        var id = await SubmitEdit(client, photo, ("sample", "raining"), ("steps", "3"), ("seed", "5"), ("feature_sites", $" {defaults[0]} , {other}"));
        Assert.Equal("done", (await Events(client, id))[^1].Type);
        Assert.Equal(chosen, (await Json(await client.GetAsync($"/api/jobs/{id}"))).GetProperty("parameters").GetProperty("feature_sites").GetString());
        var png = await client.GetByteArrayAsync($"/api/jobs/{id}/image");
        Assert.Equal(chosen, PngMeta(png)["feature_sites"]);
        var pipe = new ImageEditPipeline(studio.Sonic);
        using var expected = pipe.Edit(new ImageEditRequest
        {
            Image = studio.Temp.File("sites.png"), Audio = Path.Combine(studio.SamplesFolder, "raining.wav"), Steps = 3, Seed = 5,
            FeatureSites = [defaults[0], other],
        });
        pipe.Audio!.ClearCache();
        using var got = ImageTensor.Decode(png, "studio png");
        Assert.Equal(ImageTensor.ToRgba(expected, out _, out _), ImageTensor.ToRgba(got, out _, out _));

        var plain = await SubmitEdit(client, photo, ("sample", "raining"), ("steps", "2"), ("feature_sites", "  "));
        Assert.Equal("done", (await Events(client, plain))[^1].Type);
        Assert.Equal(string.Join(",", defaults), (await Json(await client.GetAsync($"/api/jobs/{plain}"))).GetProperty("parameters").GetProperty("feature_sites").GetString());
        Assert.False(PngMeta(await client.GetByteArrayAsync($"/api/jobs/{plain}/image")).ContainsKey("feature_sites"));

        var res = await client.PostAsync("/api/edit", EditForm(photo, ("sample", "raining"), ("feature_sites", "up_blocks.9.resnets.0")));
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal($"feature_sites 'up_blocks.9.resnets.0' is not a decoder resnet of this model (it has {string.Join(", ", all)})", (await Json(res)).GetProperty("error").GetString());
        res = await client.PostAsync("/api/edit", EditForm(photo, ("sample", "raining"), ("feature_sites", $"{other},{other}")));
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal("feature_sites names a resnet twice", (await Json(res)).GetProperty("error").GetString());
    }

    [Fact]
    public async Task APlainSdModelEditsWithTextOnly()
    {
        await using var app = await studio.StartTestServerAsync(studio.Options(o => o with { Engine = studio.TextOnlyEngine }));
        var client = app.GetTestClient();
        Assert.True((await Json(await client.GetAsync("/api/info"))).GetProperty("model").GetProperty("can_edit").GetBoolean());
        var photo = Source(72, 64, "plain.png");

        var res = await client.PostAsync("/api/edit", EditForm(photo, ("sample", "raining"), ("steps", "2")));
        Assert.Equal(HttpStatusCode.BadRequest, res.StatusCode);
        Assert.Equal("this model has no audio adapters: give a prompt to edit with text (text-only PnP)", (await Json(res)).GetProperty("error").GetString());

        var id = await SubmitEdit(client, photo, ("sample", "raining"), ("prompt", "a red barn"), ("steps", "3"), ("guidance", "6"), ("seed", "4"));
        Assert.Equal("done", (await Events(client, id))[^1].Type);
        var png = await client.GetByteArrayAsync($"/api/jobs/{id}/image");
        var meta = PngMeta(png);
        Assert.Equal("pnp-text", meta["edit_mode"]);
        Assert.Equal("none (plain Stable Diffusion model, text-only PnP)", meta["audio_conditioning"]);
        Assert.False(meta.ContainsKey("audio"));

        var pipe = new ImageEditPipeline(studio.Components);
        using var expected = pipe.Edit(new ImageEditRequest { Image = studio.Temp.File("plain.png"), Prompt = "a red barn", Steps = 3, Guidance = 6, Seed = 4 });
        using var got = ImageTensor.Decode(png, "studio png");
        Assert.Equal(new long[] { 1, 3, 64, 72 }, got.shape);
        Assert.Equal(ImageTensor.ToRgba(expected, out _, out _), ImageTensor.ToRgba(got, out _, out _));
    }

    [Fact]
    public void TheInversionCacheIsBoundedAndLeastRecentlyUsedGoesFirst()
    {
        string folder;
        using (var engine = new SonicStudioEngine(studio.Sonic, ownsModel: false, maxCachedInversions: 2))
        {
            folder = engine.Editor.InversionDirectory;
            var gen = new StudioGenerateRequest { Audio = Audio.AudioClip.FromMono(new float[4410], 44100), AudioLabel = "test", Steps = 2, PreviewEvery = 0 };
            var log = new List<StudioProgress>();
            var progress = new Collect(log);
            StudioEditRequest Edit(string name) => new() { Image = Source(64, 64 + 8 * name.Length, name), Generation = gen };
            bool Cached() => log.Any(p => p.Detail == "cached");

            foreach (var name in new[] { "a", "bb", "ccc" }) engine.Edit(Edit(name), progress, default);
            Assert.Equal(2, Directory.GetFiles(folder, "*.safetensors").Length);
            log.Clear();
            engine.Edit(Edit("bb"), progress, default);
            Assert.True(Cached(), "bb is still cached");
            log.Clear();
            engine.Edit(Edit("a"), progress, default);
            Assert.False(Cached(), "a was evicted first");
            log.Clear();
            engine.Edit(Edit("bb"), progress, default);
            Assert.True(Cached(), "bb was used more recently than ccc");
            log.Clear();
            engine.Edit(Edit("ccc"), progress, default);
            Assert.False(Cached(), "ccc was the least recently used");
            Assert.Equal(2, Directory.GetFiles(folder, "*.safetensors").Length);
        }
        Assert.False(Directory.Exists(folder), "the engine deletes its private folder");
    }

    [Fact]
    public void TheSamePhotoEditedAgainReplaysItsSourceFeatures()
    {
        static StudioGenerateRequest Tone(double hz) => new()
        {
            Audio = Audio.AudioClip.FromMono(Enumerable.Range(0, 44100).Select(i => (float)(0.3 * Math.Sin(2 * Math.PI * hz * i / 44100))).ToArray(), 44100),
            AudioLabel = $"{hz} Hz", Steps = 5, PreviewEvery = 0,
        };
        var photo = Source(64, 64, "replay.png");
        var progress = new Collect([]);
        using var engine = new SonicStudioEngine(studio.Sonic, ownsModel: false, maxCachedInversions: 2);
        engine.Edit(new StudioEditRequest { Image = photo, Generation = Tone(220) }, progress, default);
        var kept = engine.Editor.SourceFeatures!;
        Assert.Equal(4, kept.Steps);   // ⌊5 · 0.8⌋ injected timesteps
        Assert.Equal(0, kept.ReplayedSteps);
        var second = engine.Edit(new StudioEditRequest { Image = photo, Generation = Tone(440) }, progress, default);
        Assert.Same(kept, engine.Editor.SourceFeatures);
        Assert.Equal(4, kept.ReplayedSteps);

        using var fresh = new SonicStudioEngine(studio.Sonic, ownsModel: false, maxCachedInversions: 0);
        var expected = fresh.Edit(new StudioEditRequest { Image = photo, Generation = Tone(440) }, progress, default);
        Assert.Null(fresh.Editor.SourceFeatures);
        using var a = ImageTensor.Decode(expected.Png, "fresh");
        using var b = ImageTensor.Decode(second.Png, "replayed");
        Assert.Equal(ImageTensor.ToRgba(a, out _, out _), ImageTensor.ToRgba(b, out _, out _));

        engine.Edit(new StudioEditRequest { Image = Source(64, 72, "replay-other.png"), Generation = Tone(440) }, progress, default);
        Assert.NotSame(kept, engine.Editor.SourceFeatures);   // another photo: the old features are dropped
        Assert.Equal(0, kept.Steps);
    }

    private sealed class Collect(List<StudioProgress> log) : IProgress<StudioProgress>
    {
        public void Report(StudioProgress value) => log.Add(value);
    }

    /// <summary>The PNG with its IHDR width and height replaced (and the chunk's CRC recomputed).</summary>
    private static byte[] WithSize(byte[] png, int width, int height)
    {
        var b = (byte[])png.Clone();
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(16), width);
        BinaryPrimitives.WriteInt32BigEndian(b.AsSpan(20), height);
        uint crc = 0xFFFFFFFF;
        foreach (var x in b.AsSpan(12, 17))
        {
            crc ^= x;
            for (int k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
        }
        BinaryPrimitives.WriteUInt32BigEndian(b.AsSpan(29), crc ^ 0xFFFFFFFF);
        return b;
    }
}
