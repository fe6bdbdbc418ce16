using System.Diagnostics;
using System.Globalization;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;

namespace SonicDiffusion.Data.Import;

/// <summary>
/// Decodes media with the <c>ffmpeg</c> and <c>ffprobe</c> binaries run as processes (Debian's package, or the pair
/// <c>$SONIC_FFMPEG</c> points at). Decoding failures of a file are <see cref="ClipFailedException"/>s carrying
/// ffmpeg's first error line; a missing binary is a <see cref="SonicException"/>.
/// </summary>
public sealed class Ffmpeg
{
    public const string PathVariable = "SONIC_FFMPEG";
    private static readonly TimeSpan CallLimit = TimeSpan.FromMinutes(5);

    public string FfmpegPath { get; }
    public string FfprobePath { get; }

    private Ffmpeg(string ffmpeg, string ffprobe)
    {
        FfmpegPath = ffmpeg;
        FfprobePath = ffprobe;
    }

    /// <summary>The binaries from <c>$SONIC_FFMPEG</c> (ffprobe beside it) or from PATH; null when either is missing.</summary>
    public static Ffmpeg? TryLocate()
    {
        if (Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } given)
        {
            var probe = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(given)) ?? "", "ffprobe");
            return File.Exists(given) && File.Exists(probe) ? new Ffmpeg(Path.GetFullPath(given), probe) : null;
        }
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        string? Find(string name) => dirs.Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
        return Find("ffmpeg") is { } f && Find("ffprobe") is { } p ? new Ffmpeg(f, p) : null;
    }

    public static Ffmpeg Locate() => TryLocate() ?? throw new SonicException(
        Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } given
            ? $"{PathVariable}={given}: ffmpeg or the ffprobe beside it not found"
            : $"ffmpeg/ffprobe not found on PATH: install Debian's ffmpeg (apt-get install ffmpeg) or set {PathVariable} to the ffmpeg binary");

    public MediaInfo Probe(string path, CancellationToken cancel = default)
    {
        var (code, output, error) = Run(FfprobePath, ["-v", "error", "-of", "json", "-show_format", "-show_streams", path], cancel);
        if (code != 0) throw new ClipFailedException(ImportProblem.Unreadable, $"ffprobe: {FirstLine(error, code)}");
        return MediaInfo.Parse(System.Text.Encoding.UTF8.GetString(output), path);
    }

    /// <summary>
    /// The first audio stream from <paramref name="start"/> for up to <paramref name="seconds"/>, with its
    /// <paramref name="channels"/> channels at the file's own rate.
    /// </summary>
    public AudioClip ReadAudio(string path, double start, double seconds, int channels, int sampleRate, CancellationToken cancel = default)
    {
        var args = new List<string> { "-nostdin", "-v", "error" };
        if (start > 0) args.AddRange(["-ss", Seconds(start)]);
        args.AddRange(["-t", Seconds(seconds), "-i", path, "-map", "0:a:0", "-vn", "-ac", channels.ToString(CultureInfo.InvariantCulture),
            "-ar", sampleRate.ToString(CultureInfo.InvariantCulture), "-c:a", "pcm_f32le", "-f", "f32le", "-threads", "1", "-"]);
        var (code, output, error) = Run(FfmpegPath, args, cancel);
        if (code != 0) throw new ClipFailedException(ImportProblem.Unreadable, $"ffmpeg audio: {FirstLine(error, code)}");
        int frames = output.Length / (4 * channels);
        var data = new float[channels][];
        for (int c = 0; c < channels; c++) data[c] = new float[frames];
        var all = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(output.AsSpan(0, frames * channels * 4));
        for (int i = 0, p = 0; i < frames; i++)
            for (int c = 0; c < channels; c++) data[c][i] = all[p++];
        return new AudioClip(data, sampleRate);
    }

    /// <summary>One video frame (the first at or after <paramref name="time"/>) or a still image, as RGB PNG bytes; empty when there is none.</summary>
    public byte[] ReadFramePng(string path, double time, CancellationToken cancel = default)
    {
        var args = new List<string> { "-nostdin", "-v", "error" };
        if (time > 0) args.AddRange(["-ss", Seconds(time)]);
        args.AddRange(["-i", path, "-map", "0:v:0", "-an", "-frames:v", "1", "-pix_fmt", "rgb24", "-c:v", "png", "-f", "image2pipe", "-threads", "1", "-"]);
        var (code, output, error) = Run(FfmpegPath, args, cancel);
        if (code != 0) throw new ClipFailedException(ImportProblem.Unreadable, $"ffmpeg frame: {FirstLine(error, code)}");
        return output;
    }

    private static string Seconds(double s) => s.ToString("0.######", CultureInfo.InvariantCulture);

    private static string FirstLine(string error, int code) =>
        error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault() ?? $"exit code {code}";

    /// <summary>Runs a binary to completion; stdout as bytes, stderr as text. Killed on cancellation or after five minutes.</summary>
    public static (int Code, byte[] Output, string Error) Run(string exe, IEnumerable<string> args, CancellationToken cancel = default)
    {
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new SonicException($"{exe}: could not start");
        var stdout = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(stdout, cancel);
        var stderr = process.StandardError.ReadToEndAsync(cancel);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(CallLimit);
        try
        {
            process.WaitForExitAsync(limit.Token).GetAwaiter().GetResult();
            Task.WaitAll(copy, stderr);
        }
        catch (Exception e) when (e is OperationCanceledException or AggregateException { InnerException: OperationCanceledException })
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            process.WaitForExit();
            cancel.ThrowIfCancellationRequested();
            throw new ClipFailedException(ImportProblem.Unreadable, $"{Path.GetFileName(exe)} took over {CallLimit.TotalMinutes:0} minutes");
        }
        return (process.ExitCode, stdout.ToArray(), stderr.Result);
    }
}
