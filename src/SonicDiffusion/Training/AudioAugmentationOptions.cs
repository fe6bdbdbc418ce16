namespace SonicDiffusion.Training;

/// <summary>
/// How the audio encoder's training crops are degraded so that it learns the sound's class rather than one
/// synthesiser's or one microphone's fingerprint (<see cref="AudioAugmentation"/>). Each step is applied with its own
/// probability; crop 0 of every clip stays clean (it is what inference computes).
/// </summary>
public sealed record AudioAugmentationOptions
{
    /// <summary>Seed of the augmentation draws (each clip and crop draws from its own stream of it).</summary>
    public ulong Seed { get; init; } = 1;
    /// <summary>Speed change (pitch moves with it) by a factor in ±<see cref="SpeedRange"/>.</summary>
    public double SpeedProbability { get; init; } = 0.5;
    public double SpeedRange { get; init; } = 0.1;
    /// <summary>Spectral tilt around a random corner 300–3000 Hz, up to ±<see cref="TiltDb"/> dB between the two sides.</summary>
    public double TiltProbability { get; init; } = 0.6;
    public double TiltDb { get; init; } = 12;
    /// <summary>Reverberation with a synthetic impulse response (decaying noise, RT60 0.15–1.0 s, 15–50 % wet).</summary>
    public double ReverbProbability { get; init; } = 0.4;
    /// <summary>Another clip of another class mixed in 10–22 dB below (when the data has one), else room tone.</summary>
    public double BackgroundProbability { get; init; } = 0.4;
    /// <summary>White or pink noise at an SNR of 10–35 dB.</summary>
    public double NoiseProbability { get; init; } = 0.4;
    /// <summary>Gain of up to ±<see cref="GainDb"/> dB (small, since loudness also tells the sound's intensity).</summary>
    public double GainProbability { get; init; } = 0.8;
    public double GainDb { get; init; } = 6;
    /// <summary>Overdrive into hard clipping (2–6× drive).</summary>
    public double ClipProbability { get; init; } = 0.15;
    /// <summary>An MP3 (32–96 kbit/s) or Ogg Vorbis (q 0–3) round trip through Debian's ffmpeg, when it is installed.</summary>
    public double CodecProbability { get; init; } = 0.3;

    public AudioAugmentationOptions Validate()
    {
        foreach (var (name, p) in new[] { ("speed", SpeedProbability), ("tilt", TiltProbability), ("reverb", ReverbProbability), ("background", BackgroundProbability),
            ("noise", NoiseProbability), ("gain", GainProbability), ("clip", ClipProbability), ("codec", CodecProbability) })
            if (p is < 0 or > 1 || double.IsNaN(p)) throw new Core.SonicException($"audio augmentation: {name} probability {p} is not in [0, 1]");
        if (SpeedRange is < 0 or >= 0.5) throw new Core.SonicException($"audio augmentation: speed range {SpeedRange} is not in [0, 0.5)");
        if (TiltDb is < 0 or > 40) throw new Core.SonicException($"audio augmentation: tilt {TiltDb} dB is not in [0, 40]");
        if (GainDb is < 0 or > 40) throw new Core.SonicException($"audio augmentation: gain {GainDb} dB is not in [0, 40]");
        return this;
    }
}
