using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Models;

namespace SonicDiffusion.Training;

/// <summary>
/// What <see cref="ClapTrainingTask"/> trains: a narrow CNN14 (the CLAP 2022 audio tower's structure and names) with
/// its projection head, fed by a <see cref="ClapFrontEnd"/> log-mel. Saved as the task config of the run and compared
/// on resume.
/// <para>Front end: CLAP's 44.1 kHz / 10 s / 64 Slaney mels 50–14000 Hz, but n_fft = window = 2048 and hop 1280
/// (345 frames instead of CLAP's 1379 with n_fft 1024 / hop 320): measured on this machine, the 1379-frame input cost
/// about 6× the CPU time per step of the same network (batch 64), and 29 ms frames still resolve the world's onsets.
/// The spectrogram is computed in float32. The exported audio_encoder/config.json carries this front-end config.</para>
/// </summary>
public sealed record ClapTrainingOptions
{
    public static ClapFrontEndConfig DefaultFrontEnd => new()
    {
        SampleRate = 44100,
        DurationS = 10,
        NFft = 2048,
        WinLength = 2048,
        HopLength = 1280,
        NMels = 64,
        Fmin = 50,
        Fmax = 14000,
        ComputeFloat64 = false,
    };

    /// <summary>Six ConvBlocks 8…128 wide, 128-d embedding, 86-d projection: 0.63 M parameters (1.3 MB as float16).
    /// 86 is what the official projector's conv stack (length a → ⌊(3a − 3)/4⌋ + 1) maps to the mini text width 64,
    /// as real CLAP's 1024 maps to SD's 768.</summary>
    public static Cnn14Config DefaultModel => new()
    {
        ConvBlockWidths = [8, 16, 32, 64, 128, 128],
        OutEmb = 128,
        DProj = 86,
        ClassesNum = 9,
        MelBins = 64,
        SampleRate = 44100,
        WindowSize = 2048,
        HopSize = 1280,
        Fmin = 50,
        Fmax = 14000,
    };

    public Cnn14Config Model { get; init; } = DefaultModel;
    public ClapFrontEndConfig FrontEnd { get; init; } = DefaultFrontEnd;
    /// <summary>Log-mel crops per clip in the cache (see <see cref="MelCache"/> for the crop policy).</summary>
    public int CropsPerClip { get; init; } = 2;
    /// <summary>Initial softmax temperature τ (CLIP/CLAP: 0.07); logits = a·t / τ.</summary>
    public double InitialTemperature { get; init; } = 0.07;
    /// <summary>Learn log(1/τ) (clamped to 1/τ ≤ 100, as CLIP) or keep τ fixed.</summary>
    public bool LearnTemperature { get; init; } = true;
    /// <summary>Augmentation of crops 1…K−1 in the mel cache (crop 0 stays clean); null = none (and out of the saved config).</summary>
    public AudioAugmentationOptions? Augment { get; init; }

    public ClapTrainingOptions Validate()
    {
        Model.Validate("audio encoder config");
        FrontEnd.Validate("audio front-end config");
        if (Model.MelBins != FrontEnd.NMels) throw new SonicException($"CLAP training: the encoder takes {Model.MelBins} mel bins, the front end makes {FrontEnd.NMels}");
        if (Model.WindowSize != FrontEnd.NFft || Model.HopSize != FrontEnd.HopLength || Model.SampleRate != FrontEnd.SampleRate)
            throw new SonicException("CLAP training: the encoder config's sample_rate / window_size / hop_size must match the front end's sample_rate / n_fft / hop_length");
        if (CropsPerClip < 1) throw new SonicException($"CLAP training: crops per clip {CropsPerClip} must be >= 1");
        if (!(InitialTemperature > 0)) throw new SonicException($"CLAP training: temperature {InitialTemperature} must be > 0");
        if (Augment is not null && CropsPerClip < 2) throw new SonicException($"CLAP training: augmentation needs at least 2 crops per clip (crop 0 stays clean), got {CropsPerClip}");
        Augment?.Validate();
        return this;
    }

    public JsonObject ToJson() => JsonSerializer.SerializeToNode(this, ConfigJson.Options)!.AsObject();
}
