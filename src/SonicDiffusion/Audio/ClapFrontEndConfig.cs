using System.Text.Json.Serialization;
using SonicDiffusion.Core;

namespace SonicDiffusion.Audio;

/// <summary>
/// CLAP 2022 audio front end as SonicDiffusion runs it (defaults): 44.1 kHz, 10 s (441000 samples), periodic Hann
/// STFT n_fft = win = 1024, hop 320, center with reflect padding, power 2, 64 Slaney mels 50–14000 Hz with Slaney area
/// norm, 10·log10(max(x, 1e-10)) with ref 1 and no top_db; input resampled with torchaudio's default Resample.
/// JSON names are snake_case (the clap_frontend fixture's config object deserialises into it). Descriptive strings
/// such as "hann (periodic, …)" are accepted: only their first word is checked.
/// <see cref="ComputeFloat64"/>: run STFT, mel and log in float64 (the fixture reference's precision and independent
/// of BLAS / GPU TF32 settings; output is float32 either way). false = float32 like torchlibrosa on the device.
/// </summary>
public sealed record ClapFrontEndConfig
{
    public int SampleRate { get; init; } = 44100;
    public double DurationS { get; init; } = 10;
    public int NFft { get; init; } = 1024;
    public int WinLength { get; init; } = 1024;
    public int HopLength { get; init; } = 320;
    public string Window { get; init; } = "hann";
    public bool Center { get; init; } = true;
    public string PadMode { get; init; } = "reflect";
    public double Power { get; init; } = 2.0;
    public int NMels { get; init; } = 64;
    public double Fmin { get; init; } = 50;
    public double Fmax { get; init; } = 14000;
    public string MelScale { get; init; } = "slaney";
    public string MelNorm { get; init; } = "slaney";
    public double Amin { get; init; } = 1e-10;
    public double Ref { get; init; } = 1.0;
    public double? TopDb { get; init; }
    public ResampleConfig Resample { get; init; } = new();
    public bool ComputeFloat64 { get; init; } = true;

    /// <summary>Samples per clip after fitting: round(sample_rate · duration_s) = 441000.</summary>
    [JsonIgnore] public int NumSamples => (int)Math.Round(SampleRate * DurationS);
    [JsonIgnore] public int NumBins => NFft / 2 + 1;

    /// <summary>STFT frames for a waveform of <paramref name="samples"/> samples (1379 for 441000).</summary>
    public long Frames(long samples) => Center ? 1 + samples / HopLength : 1 + (samples - NFft) / HopLength;

    public static ClapFrontEndConfig FromJson(string json, string source = "clap front-end config")
    {
        var cfg = ConfigJson.Parse<ClapFrontEndConfig>(json, source);
        cfg.Validate(source);
        return cfg;
    }

    public void Validate(string source = "clap front-end config")
    {
        void Need(bool ok, string what)
        {
            if (!ok) throw new SonicException($"{source}: {what}");
        }
        static string First(string s) => s.Split(' ', '(')[0].Trim().ToLowerInvariant();
        Need(SampleRate > 0, $"sample_rate {SampleRate} must be positive");
        Need(DurationS > 0 && NumSamples > 0, $"duration_s {DurationS} must be positive");
        Need(NFft >= 2, $"n_fft {NFft} must be at least 2");
        Need(WinLength >= 1 && WinLength <= NFft, $"win_length {WinLength} must be in [1, n_fft = {NFft}]");
        Need(HopLength > 0, $"hop_length {HopLength} must be positive");
        Need(First(Window) == "hann", $"window '{Window}' is not supported (periodic hann only)");
        Need(First(PadMode) is "reflect" or "constant", $"pad_mode '{PadMode}' is not supported (reflect or constant)");
        Need(Power > 0, $"power {Power} must be positive");
        Need(NMels > 0, $"n_mels {NMels} must be positive");
        Need(Fmin >= 0 && Fmax > Fmin && Fmax <= SampleRate / 2.0, $"fmin {Fmin} / fmax {Fmax} must satisfy 0 <= fmin < fmax <= sample_rate/2");
        Need(First(MelScale) == "slaney", $"mel_scale '{MelScale}' is not supported (slaney only)");
        Need(First(MelNorm) == "slaney", $"mel_norm '{MelNorm}' is not supported (slaney only)");
        Need(Amin > 0, $"amin {Amin} must be positive");
        Need(Ref > 0, $"ref {Ref} must be positive");
        Need(TopDb is null || TopDb >= 0, $"top_db {TopDb} must be null or non-negative");
        Resample.Validate(source);
    }
}
