using SkiaSharp;
using SonicDiffusion.Audio;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Studio;

/// <summary>What the page draws for a sound: waveform peaks and the log-mel spectrogram the model's front end computes.</summary>
public sealed record SoundAnalysis(int SampleRate, int Channels, double DurationSeconds, float[] PeakMin, float[] PeakMax,
    string Spectrogram, int SpectrogramFrames, int SpectrogramMels, string SpectrogramNote);

/// <summary>
/// Analyses a decoded sound for display: min/max peaks of the mono mix, and the CLAP log-mel (the model's own front
/// end: 44.1 kHz, 10 s, repeat-padded, 64 Slaney mels) rendered as a PNG, low frequencies at the bottom, 80 dB range.
/// </summary>
public static class SoundView
{
    private static readonly (float At, byte R, byte G, byte B)[] Ramp =
    [
        (0.00f, 0, 0, 4), (0.15f, 40, 11, 84), (0.30f, 101, 21, 110), (0.45f, 159, 42, 99),
        (0.60f, 212, 72, 66), (0.75f, 245, 125, 21), (0.90f, 250, 193, 39), (1.00f, 252, 255, 164),
    ];

    public static SoundAnalysis Analyze(AudioClip clip, ClapFrontEnd frontEnd, int columns = 600)
    {
        var mono = clip.ToMono();
        int cols = Math.Max(1, Math.Min(columns, mono.Length));
        var lo = new float[cols];
        var hi = new float[cols];
        for (int c = 0; c < cols; c++)
        {
            int a = (int)((long)c * mono.Length / cols), b = Math.Max(a + 1, (int)((long)(c + 1) * mono.Length / cols));
            float mn = float.MaxValue, mx = float.MinValue;
            for (int i = a; i < b; i++) { mn = Math.Min(mn, mono[i]); mx = Math.Max(mx, mono[i]); }
            lo[c] = MathF.Round(mn, 4);
            hi[c] = MathF.Round(mx, 4);
        }
        float[] db;
        int frames, mels;
        using (var scope = torch.NewDisposeScope())
        {
            var logmel = frontEnd.LogMel(clip);           // [1, 1, T, mels]
            frames = (int)logmel.shape[2];
            mels = (int)logmel.shape[3];
            db = logmel.reshape(-1).data<float>().ToArray();
        }
        var png = Render(db, frames, mels);
        var cfg = frontEnd.Config;
        var note = $"CLAP log-mel as the model hears it: {mels} mels {cfg.Fmin:0}–{cfg.Fmax:0} Hz, {cfg.DurationS:0.#} s at {cfg.SampleRate} Hz (shorter sounds repeat)";
        return new SoundAnalysis(clip.SampleRate, clip.ChannelCount, Math.Round(clip.DurationSeconds, 3), lo, hi,
            "data:image/png;base64," + Convert.ToBase64String(png), frames, mels, note);
    }

    /// <summary>dB values [frames × mels] → PNG, two frames per column (their max), two pixel rows per mel.</summary>
    public static byte[] Render(float[] db, int frames, int mels)
    {
        float top = db.Max(), floor = top - 80f;
        int w = (frames + 1) / 2, h = mels * 2;
        using var bmp = new SKBitmap(new SKImageInfo(w, h, SKColorType.Rgba8888, SKAlphaType.Premul));
        for (int x = 0; x < w; x++)
            for (int m = 0; m < mels; m++)
            {
                float v = db[2 * x * mels + m];
                if (2 * x + 1 < frames) v = Math.Max(v, db[(2 * x + 1) * mels + m]);
                var color = Color(Math.Clamp((v - floor) / 80f, 0f, 1f));
                int y = h - 2 - 2 * m;
                bmp.SetPixel(x, y, color);
                bmp.SetPixel(x, y + 1, color);
            }
        using var img = SKImage.FromBitmap(bmp);
        using var data = img.Encode(SKEncodedImageFormat.Png, 100);
        return data.ToArray();
    }

    private static SKColor Color(float t)
    {
        for (int i = 1; i < Ramp.Length; i++)
        {
            if (t > Ramp[i].At) continue;
            var (a, b) = (Ramp[i - 1], Ramp[i]);
            float u = (t - a.At) / (b.At - a.At);
            return new SKColor((byte)(a.R + u * (b.R - a.R)), (byte)(a.G + u * (b.G - a.G)), (byte)(a.B + u * (b.B - a.B)));
        }
        return new SKColor(Ramp[^1].R, Ramp[^1].G, Ramp[^1].B);
    }
}
