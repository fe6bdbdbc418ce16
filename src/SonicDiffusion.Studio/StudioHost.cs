using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Studio.Engines;
using SonicDiffusion.Studio.Jobs;

namespace SonicDiffusion.Studio;

/// <summary>
/// Builds the studio web app: the API, the page, the OpenAPI document (/openapi/v1.json) and the job worker, on
/// Kestrel at <see cref="StudioOptions.Urls"/>. Loopback only unless a token is set; with a token, every /api call
/// needs "Authorization: Bearer TOKEN".
/// </summary>
public static class StudioHost
{
    /// <param name="configure">last say over the builder before it is built (tests: <c>b.WebHost.UseTestServer()</c>)</param>
    public static WebApplication Build(StudioOptions options, Action<WebApplicationBuilder>? configure = null)
    {
        bool loopbackOnly = CheckBinding(options.Urls, options.Token);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ApplicationName = typeof(StudioHost).Assembly.GetName().Name,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.WebHost.UseUrls(options.Urls);
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = options.AudioUploadLimit + options.ImageUploadLimit + (1 << 20));
        builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
        builder.Services.Configure<FormOptions>(f =>
        {
            f.MultipartBodyLengthLimit = options.AudioUploadLimit + options.ImageUploadLimit + (1 << 20);
            f.ValueLengthLimit = 64 * 1024;
            f.ValueCountLimit = 64;
        });
        builder.Services.ConfigureHttpJsonOptions(j => j.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower);
        builder.Services.AddOpenApi();

        builder.Services.AddSingleton(options);
        if (options.Engine is { } given) builder.Services.AddSingleton(given);
        else
        {
            var path = options.ModelPath ?? throw new SonicException("no model: give --model DIR");
            var loaded = StudioEngineLoader.Load(path, options.SonicFiles, options.ModelLoad);
            builder.Services.AddSingleton<IStudioEngine>(_ => loaded);
        }
        builder.Services.AddSingleton(_ => new SampleLibrary(options.SamplesDirectory, options.AudioUploadLimit));
        builder.Services.AddSingleton(_ => new ClapFrontEnd());
        builder.Services.AddSingleton<StudioRequestReader>();
        builder.Services.AddSingleton<StudioJobQueue>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<StudioJobQueue>());
        configure?.Invoke(builder);

        var app = builder.Build();
        app.Use(SecurityHeaders);
        if (loopbackOnly) app.Use(LoopbackHostsOnly);
        app.Use(SameOriginWrites);
        if (!string.IsNullOrEmpty(options.Token)) app.Use(BearerToken(options.Token));
        app.MapOpenApi();
        StudioApi.Map(app);
        StudioPage.Map(app);
        return app;
    }

    /// <summary>
    /// True when every URL binds a loopback address. Anything else (a LAN address, 0.0.0.0, *, +, a host name) needs
    /// a token; otherwise a <see cref="SonicException"/> says so.
    /// </summary>
    public static bool CheckBinding(string urls, string? token)
    {
        var list = urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (list.Length == 0) throw new SonicException("--urls is empty (e.g. http://127.0.0.1:5000)");
        bool allLoopback = true;
        foreach (var url in list)
        {
            int scheme = url.IndexOf("://", StringComparison.Ordinal);
            if (scheme < 0) throw new SonicException($"--urls {url}: expected a URL such as http://127.0.0.1:5000");
            var rest = url[(scheme + 3)..];
            var hostPort = rest.Split('/')[0];
            string host = hostPort.StartsWith('[') ? hostPort[..(hostPort.IndexOf(']') + 1)] : hostPort.Split(':')[0];
            allLoopback &= IsLoopback(host);
        }
        if (!allLoopback && string.IsNullOrEmpty(token))
            throw new SonicException($"--urls {urls}: binding beyond loopback (127.0.0.1, [::1], localhost) needs --token");
        return allLoopback;
    }

    private static bool IsLoopback(string host)
    {
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return IPAddress.TryParse(host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip);
    }

    private static async Task SecurityHeaders(HttpContext ctx, Func<Task> next)
    {
        var h = ctx.Response.Headers;
        h["X-Content-Type-Options"] = "nosniff";
        h["Referrer-Policy"] = "no-referrer";
        h["X-Frame-Options"] = "DENY";
        h["Content-Security-Policy"] = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";
        await next();
    }

    /// <summary>Bound to loopback, answer only requests addressed to a loopback name (stops DNS-rebinding pages).</summary>
    private static async Task LoopbackHostsOnly(HttpContext ctx, Func<Task> next)
    {
        var host = ctx.Request.Host.Host;
        if (host.Length > 0 && !IsLoopback(host))
        {
            ctx.Response.StatusCode = 400;
            await ctx.Response.WriteAsJsonAsync(new StudioError($"host '{host}' is not served (this studio listens on loopback only)"));
            return;
        }
        await next();
    }

    /// <summary>Refuses API writes from another site's page (a browser sends Origin; scripts and curl usually don't).</summary>
    private static async Task SameOriginWrites(HttpContext ctx, Func<Task> next)
    {
        var req = ctx.Request;
        if (!HttpMethods.IsGet(req.Method) && !HttpMethods.IsHead(req.Method) && req.Headers.Origin is { Count: > 0 } origin)
        {
            var expected = $"{req.Scheme}://{req.Host}";
            if (!string.Equals(origin.ToString(), expected, StringComparison.OrdinalIgnoreCase))
            {
                ctx.Response.StatusCode = 403;
                await ctx.Response.WriteAsJsonAsync(new StudioError($"cross-origin request from {origin} refused"));
                return;
            }
        }
        await next();
    }

    private static Func<HttpContext, Func<Task>, Task> BearerToken(string token)
    {
        var expected = Encoding.UTF8.GetBytes(token);
        return async (ctx, next) =>
        {
            if (ctx.Request.Path.StartsWithSegments("/api"))
            {
                var header = ctx.Request.Headers.Authorization.ToString();
                var given = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? Encoding.UTF8.GetBytes(header[7..].Trim()) : [];
                if (!CryptographicOperations.FixedTimeEquals(given, expected))
                {
                    ctx.Response.StatusCode = 401;
                    ctx.Response.Headers.WWWAuthenticate = "Bearer";
                    await ctx.Response.WriteAsJsonAsync(new StudioError(header.Length == 0 ? "this studio needs a token: send Authorization: Bearer TOKEN" : "wrong token"));
                    return;
                }
            }
            await next();
        };
    }

    /// <summary>
    /// Runs the studio until <paramref name="ct"/> fires or the process is told to stop (Ctrl+C, SIGTERM);
    /// <paramref name="started"/> gets the addresses it listens on.
    /// </summary>
    public static async Task RunAsync(StudioOptions options, Action<IReadOnlyList<string>>? started = null, CancellationToken ct = default)
    {
        await using var app = Build(options);
        await app.StartAsync(ct);
        started?.Invoke(app.Urls.ToList());
        await app.WaitForShutdownAsync(ct);
    }
}
