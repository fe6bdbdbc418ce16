using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// torchaudio's <c>Spectrogram(n_fft=512, hop_length=353)</c> as Wav2CLIP holds it: |STFT|² with the stored Hann
/// <c>window</c> buffer, centred frames, reflect padding, one-sided (257 bins).
/// </summary>
public sealed class Wav2ClipSpectrogram : nn.Module<Tensor, Tensor>
{
    public const int NFft = 512;
    public const int HopLength = 353;

    private readonly Tensor window;

    public Wav2ClipSpectrogram() : base(nameof(Wav2ClipSpectrogram))
    {
        window = torch.hann_window(NFft);
        RegisterComponents();
    }

    /// <summary>Waveforms [B, T] → power [B, 1, 257, frames].</summary>
    public override Tensor forward(Tensor waveform)
    {
        using var scope = torch.NewDisposeScope();
        var spec = torch.stft(waveform, NFft, HopLength, NFft, window, center: true, pad_mode: PaddingModes.Reflect, normalized: false, onesided: true, return_complex: true);
        return spec.abs().pow(2).unsqueeze(1).MoveToOuterDisposeScope();
    }
}
