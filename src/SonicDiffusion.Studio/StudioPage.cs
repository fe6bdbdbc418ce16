using System.Reflection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace SonicDiffusion.Studio;

/// <summary>Serves the page: a fixed set of files embedded in this assembly (no file system, no CDN).</summary>
public static class StudioPage
{
    private static readonly (string Route, string Resource, string ContentType)[] Files =
    [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/studio.css", "studio.css", "text/css; charset=utf-8"),
        ("/studio.js", "studio.js", "text/javascript; charset=utf-8"),
        ("/favicon.svg", "favicon.svg", "image/svg+xml"),
    ];

    public static void Map(WebApplication app)
    {
        foreach (var (route, resource, type) in Files)
        {
            var bytes = Read(resource);
            app.MapGet(route, () => Results.Bytes(bytes, type)).ExcludeFromDescription();
        }
    }

    public static byte[] Read(string name)
    {
        using var s = Assembly.GetExecutingAssembly().GetManifestResourceStream("SonicDiffusion.Studio.Page." + name)
                      ?? throw new InvalidOperationException($"embedded page file {name} is missing from the build");
        using var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }
}
