using Microsoft.Playwright;
using SonicDiffusion.Data.World;
using SonicDiffusion.Studio;
using SonicDiffusion.Tests.Infrastructure;
using Xunit.Abstractions;

namespace SonicDiffusion.Tests;

/// <summary>
/// The page in a real browser: Playwright for .NET drives Debian's Chromium (no browser download) against the studio
/// on Kestrel at a free loopback port, with the bundled sonic-mini model and the repository's samples: generate from a
/// sample, then edit a world scene with it. Set SONIC_STUDIO_SCREENSHOT=path.png to keep a screenshot of the page.
/// </summary>
public class StudioBrowserTests(BundledStudioModel studio, ITestOutputHelper output) : IClassFixture<BundledStudioModel>
{
    private static readonly string[] ChromiumArgs =
    [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
    ];

    [ChromiumFact]
    public async Task ChooseASampleGenerateEditAndSeeTheImages()
    {
        await using var app = StudioHost.Build(studio.Options(o => o with { Urls = "http://127.0.0.1:0" }));
        await app.StartAsync();
        var url = app.Urls.Single();
        output.WriteLine($"studio at {url}");

        using var profile = new TempDir();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchPersistentContextAsync(profile.Path, new BrowserTypeLaunchPersistentContextOptions
        {
            ExecutablePath = ChromiumFactAttribute.ExecutablePath,
            Headless = true,
            Args = ChromiumArgs,
            ViewportSize = new ViewportSize { Width = 1100, Height = 900 },
        });
        var page = browser.Pages.Count > 0 ? browser.Pages[0] : await browser.NewPageAsync();
        var consoleErrors = new List<string>();
        page.Console += (_, m) => { if (m.Type == "error") consoleErrors.Add(m.Text); };
        page.PageError += (_, e) => consoleErrors.Add(e);

        await page.GotoAsync(url + "/");
        await Assertions.Expect(page.Locator("#model-line")).ToContainTextAsync("Model: sonic-mini · 128×128 · sound-conditioned");
        await Assertions.Expect(page.Locator("#sample-select option[value=raining]")).ToHaveCountAsync(1);

        await page.Locator("#sample-select").SelectOptionAsync("raining");
        await Assertions.Expect(page.Locator("#spectrogram")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#sound-status")).ToContainTextAsync("4.81 s, 44100 Hz");

        await page.Locator("#steps").FillAsync("25");
        await page.Locator("#seed").FillAsync("11");
        await page.Locator("#go").ClickAsync();

        var image = page.Locator("#gallery li img").First;
        await Assertions.Expect(image).ToBeVisibleAsync(new() { Timeout = 120_000 });
        await page.WaitForFunctionAsync("() => { const i = document.querySelector('#gallery li img'); return i && i.complete && i.naturalWidth === 128; }");
        await Assertions.Expect(page.Locator("#progress-text")).ToContainTextAsync("Done");
        await Assertions.Expect(page.Locator("#gallery li dd").Filter(new() { HasText = "sample raining" })).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#gallery li a[download]")).ToHaveAttributeAsync("download", new System.Text.RegularExpressions.Regex("seed11\\.png$"));

        // Keyboard: the tabs follow the arrow keys; the Edit tab edits a photo with the chosen sound.
        await page.Locator("#tab-generate").FocusAsync();
        await page.Keyboard.PressAsync("ArrowRight");
        await Assertions.Expect(page.Locator("#tab-edit")).ToBeFocusedAsync();
        await Assertions.Expect(page.Locator("#tab-edit")).ToHaveAttributeAsync("aria-selected", "true");
        await Assertions.Expect(page.Locator("#panel-edit")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#scheduler-field")).ToBeHiddenAsync();
        await Assertions.Expect(page.Locator("#error")).ToBeHiddenAsync();
        await Assertions.Expect(page.Locator("#feature-out")).ToHaveTextAsync("0.8");
        await Assertions.Expect(page.Locator("#go")).ToHaveTextAsync("Edit image");

        // A held-out-style world scene (a campfire) to be edited with the rain sound.
        var scene = Enumerable.Range(0, 50).Select(i => WorldGenerator.Plan(7, i)).First(s => s.Class == WorldClass.FireCrackling);
        var photo = studio.Temp.File("campfire.png");
        File.WriteAllBytes(photo, SceneRenderer.RenderPng(scene));
        await page.Locator("#edit-image").SetInputFilesAsync(photo);
        await Assertions.Expect(page.Locator("#edit-source-preview")).ToBeVisibleAsync();
        await page.Locator("#attn").FillAsync("0.6");
        await Assertions.Expect(page.Locator("#feature-sites input:checked")).ToHaveCountAsync(1);
        await page.Locator("#feature-sites input[value='up_blocks.2.resnets.0']").CheckAsync();
        await page.Locator("#steps").FillAsync("25");
        await page.Locator("#go").FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        var edited = page.Locator("#gallery li.edit img.result");
        await Assertions.Expect(edited).ToBeVisibleAsync(new() { Timeout = 120_000 });
        await page.WaitForFunctionAsync("() => { const i = document.querySelector('#gallery li.edit img.result'); return i && i.complete && i.naturalWidth === 128 && i.naturalHeight === 128; }");
        await Assertions.Expect(page.Locator("#progress-text")).ToContainTextAsync("Done");
        await Assertions.Expect(page.Locator("#gallery li.edit img.source")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#edit-source-large")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#preview-caption")).ToContainTextAsync("Edited image (128×128)");
        await Assertions.Expect(page.Locator("#gallery li.edit dd").Filter(new() { HasText = "0.6" })).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#gallery li.edit dd").Filter(new() { HasText = "up_blocks.1.resnets.1,up_blocks.2.resnets.0" })).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#gallery li.edit dd").Filter(new() { HasText = "128×128" })).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#gallery li.edit a[download]")).ToHaveAttributeAsync("download", new System.Text.RegularExpressions.Regex("^sonic-edit-"));
        await Assertions.Expect(page.Locator("#gallery li")).ToHaveCountAsync(2);

        var shot = Environment.GetEnvironmentVariable("SONIC_STUDIO_SCREENSHOT");
        if (!string.IsNullOrEmpty(shot))
        {
            await page.Locator("#error").EvaluateAsync("e => e.hidden = true");
            await page.EvaluateAsync("() => document.activeElement && document.activeElement.blur()");
            await page.ScreenshotAsync(new() { Path = shot, FullPage = true });
            output.WriteLine($"screenshot: {shot}");
        }

        await page.Locator("#tab-edit").FocusAsync();
        await page.Keyboard.PressAsync("ArrowLeft");
        await Assertions.Expect(page.Locator("#panel-edit")).ToBeHiddenAsync();
        await Assertions.Expect(page.Locator("#scheduler-field")).ToBeVisibleAsync();

        // Phone width: one column, nothing wider than the screen.
        await page.SetViewportSizeAsync(390, 844);
        foreach (var tab in new[] { "#tab-generate", "#tab-edit" })
        {
            await page.Locator(tab).ClickAsync();
            var overflow = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth - window.innerWidth");
            var wide = await page.EvaluateAsync<string[]>(
                "() => [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5).map(e => e.tagName + '#' + e.id + '.' + e.className)");
            Assert.True(overflow <= 0, $"{tab}: page is {overflow}px wider than a phone screen: {string.Join(", ", wide)}");
        }
        if (!string.IsNullOrEmpty(shot)) await page.ScreenshotAsync(new() { Path = shot + ".phone.png", FullPage = true });
        Assert.Empty(consoleErrors);
    }
}
