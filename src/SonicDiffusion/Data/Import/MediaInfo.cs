using System.Globalization;
using System.Text.Json;
using SonicDiffusion.Core;

namespace SonicDiffusion.Data.Import;

/// <summary>
/// What ffprobe says about a media file: its length, the first audio stream (channels, rate) and the first video stream
/// (frame rate, frame count, size). A missing stream leaves its fields null.
/// </summary>
public sealed record MediaInfo
{
    public double? DurationSeconds { get; init; }
    public int? AudioChannels { get; init; }
    public int? AudioSampleRate { get; init; }
    public double? FramesPerSecond { get; init; }
    public long? FrameCount { get; init; }
    public int? Width { get; init; }
    public int? Height { get; init; }

    public bool HasAudio => AudioChannels is > 0;
    public bool HasVideo => Width is > 0;

    /// <summary>Video frames in the file: the container's count, else duration × frame rate.</summary>
    public long? VideoFrames => FrameCount ?? (DurationSeconds is { } d && FramesPerSecond is { } r ? (long)Math.Floor(d * r + 1e-6) : null);

    /// <summary>Parses <c>ffprobe -of json -show_format -show_streams</c> output.</summary>
    public static MediaInfo Parse(string json, string name)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(json); }
        catch (JsonException e) { throw new SonicException($"{name}: ffprobe gave unreadable output ({e.Message.Split('\n')[0]})"); }
        using var _ = doc;
        var root = doc.RootElement;
        double? duration = root.TryGetProperty("format", out var format) ? Number(format, "duration") : null;
        var info = new MediaInfo { DurationSeconds = duration };
        if (!root.TryGetProperty("streams", out var streams) || streams.ValueKind != JsonValueKind.Array) return info;
        bool audio = false, video = false;
        foreach (var s in streams.EnumerateArray())
        {
            string? type = s.TryGetProperty("codec_type", out var t) ? t.GetString() : null;
            if (type == "audio" && !audio)
            {
                audio = true;
                info = info with { AudioChannels = (int?)Number(s, "channels"), AudioSampleRate = (int?)Number(s, "sample_rate") };
                if (info.DurationSeconds is null && Number(s, "duration") is { } ad) info = info with { DurationSeconds = ad };
            }
            else if (type == "video" && !video && !IsAttachedPicture(s))
            {
                video = true;
                var rate = Rational(s, "avg_frame_rate") ?? Rational(s, "r_frame_rate");
                info = info with
                {
                    FramesPerSecond = rate,
                    FrameCount = Number(s, "nb_frames") is { } n and > 0 ? (long)n : null,
                    Width = (int?)Number(s, "width"),
                    Height = (int?)Number(s, "height"),
                };
                if (info.DurationSeconds is null && Number(s, "duration") is { } vd) info = info with { DurationSeconds = vd };
            }
        }
        return info;
    }

    private static bool IsAttachedPicture(JsonElement s) =>
        s.TryGetProperty("disposition", out var d) && d.TryGetProperty("attached_pic", out var a) && a.ValueKind == JsonValueKind.Number && a.GetInt32() == 1;

    private static double? Number(JsonElement e, string key)
    {
        if (!e.TryGetProperty(key, out var v)) return null;
        if (v.ValueKind == JsonValueKind.Number) return v.GetDouble();
        return v.ValueKind == JsonValueKind.String && double.TryParse(v.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : null;
    }

    private static double? Rational(JsonElement e, string key)
    {
        if (!e.TryGetProperty(key, out var v) || v.GetString() is not { } s) return null;
        var parts = s.Split('/');
        if (parts.Length != 2
            || !double.TryParse(parts[0], NumberStyles.Float, CultureInfo.InvariantCulture, out var num)
            || !double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var den)
            || num <= 0 || den <= 0) return null;
        return num / den;
    }
}
