namespace SonicDiffusion.Audio;

/// <summary>
/// torchaudio <c>transforms.Resample</c> settings (defaults = torchaudio 2.0.2's). <see cref="PhaseDtype"/> "float32"
/// reproduces torchaudio computing the phase j/n of kernel row j in float32 (int64 arange / int); "float64" uses exact phases.
/// </summary>
public sealed record ResampleConfig
{
    public string Method { get; init; } = "sinc_interp_hann";
    public int LowpassFilterWidth { get; init; } = 6;
    public double Rolloff { get; init; } = 0.99;
    public string PhaseDtype { get; init; } = "float32";

    public void Validate(string source)
    {
        if (Method != "sinc_interp_hann") throw new Core.SonicException($"{source}: resample method '{Method}' is not supported (only sinc_interp_hann)");
        if (LowpassFilterWidth <= 0) throw new Core.SonicException($"{source}: resample lowpass_filter_width {LowpassFilterWidth} must be positive");
        if (!(Rolloff > 0 && Rolloff <= 1)) throw new Core.SonicException($"{source}: resample rolloff {Rolloff} must be in (0, 1]");
        if (PhaseDtype is not ("float32" or "float64")) throw new Core.SonicException($"{source}: resample phase_dtype '{PhaseDtype}' must be float32 or float64");
    }
}
