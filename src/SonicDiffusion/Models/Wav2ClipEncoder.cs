using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>
/// Wav2CLIP's audio ResNet-18 (<c>wav2clip/model/resnet.py</c>): spectrogram → log(x + 1e-7) → standardised with the
/// mean and (unbiased) std of the whole input → conv 7×7/2 → BN → ReLU → max pool → 4 stages of 2 basic blocks →
/// average pool → [B, 512]. <paramref name="widthDivisor"/> &gt; 1 divides every channel count (parity fixtures).
/// </summary>
public sealed class Wav2ClipEncoder : nn.Module<Tensor, Tensor>
{
    private readonly Wav2ClipSpectrogram spectrogram;
    private readonly Conv2d conv1;
    private readonly BatchNorm2d bn1;
    private readonly Sequential layer1, layer2, layer3, layer4;

    public int OutputDim { get; }

    public Wav2ClipEncoder(int widthDivisor) : base(nameof(Wav2ClipEncoder))
    {
        int d = widthDivisor;
        spectrogram = new Wav2ClipSpectrogram();
        conv1 = nn.Conv2d(1, 64 / d, 7, stride: 2, padding: 3, bias: false);
        bn1 = nn.BatchNorm2d(64 / d);
        long inPlanes = 64 / d;
        Sequential Stage(long planes, long stride)
        {
            var a = new Wav2ClipBasicBlock(inPlanes, planes, stride);
            inPlanes = planes;
            return nn.Sequential(("0", a), ("1", new Wav2ClipBasicBlock(planes, planes, 1)));
        }
        layer1 = Stage(64 / d, 1);
        layer2 = Stage(128 / d, 2);
        layer3 = Stage(256 / d, 2);
        layer4 = Stage(512 / d, 2);
        OutputDim = 512 / d;
        RegisterComponents();
    }

    /// <summary>Waveforms [B, T] → [B, 512]. The standardisation uses statistics of the whole batch, as the reference does.</summary>
    public override Tensor forward(Tensor waveform)
    {
        using var scope = torch.NewDisposeScope();
        var x = LogSpectrogram(waveform);
        return Forward(x, x.mean().item<float>(), x.std().item<float>()).MoveToOuterDisposeScope();
    }

    /// <summary>log(|STFT|² + 1e-7) [B, 1, 257, frames], before the standardisation.</summary>
    public Tensor LogSpectrogram(Tensor waveform)
    {
        using var scope = torch.NewDisposeScope();
        return torch.log(spectrogram.forward(waveform) + 1e-7).MoveToOuterDisposeScope();
    }

    /// <summary>The network after the spectrogram, standardising with the given statistics (those of the whole batch in the reference).</summary>
    public Tensor Forward(Tensor logSpectrogram, double mean, double std)
    {
        using var scope = torch.NewDisposeScope();
        var x = (logSpectrogram - mean) / (std + 1e-9);
        x = F.max_pool2d(F.relu(bn1.forward(conv1.forward(x))), 3, 2, 1);
        x = layer4.forward(layer3.forward(layer2.forward(layer1.forward(x))));
        return F.adaptive_avg_pool2d(x, new long[] { 1, 1 }).flatten(1).MoveToOuterDisposeScope();
    }
}
