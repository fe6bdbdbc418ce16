using SonicDiffusion.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// The Cnn14 trunk of the CLAP 2022 audio encoder (official <c>audio.py Cnn14</c>, the <c>audio_encoder.base</c> part),
/// fed with log-mel spectrograms. The frozen front-end tensors of the checkpoint (STFT kernels, mel matrix) are held
/// under their official names so a real checkpoint loads strictly; the log-mel itself is computed by the front end.
/// </summary>
public sealed class Cnn14 : nn.Module<Tensor, Tensor>
{
    private readonly ModuleDict<nn.Module> spectrogram_extractor;
    private readonly ParameterDict logmel_extractor;
    private readonly BatchNorm2d bn0;
    private readonly List<Cnn14ConvBlock> _blocks = new();
    private readonly Linear fc1;
    private readonly Linear fc_audioset;
    private readonly Conv1d _stftReal;
    private readonly Conv1d _stftImag;

    public Cnn14Config Config { get; }

    public Cnn14(Cnn14Config config) : base(nameof(Cnn14))
    {
        Config = config.Validate("Cnn14Config");

        // Official Conv1d STFT kernels [n_fft/2+1, 1, n_fft] and melW [n_fft/2+1, mel_bins]; NaN until a checkpoint
        // provides them, so a model that never got them cannot silently produce a spectrogram.
        _stftReal = nn.Conv1d(1, config.FftBins, config.WindowSize, stride: config.HopSize, bias: false);
        _stftImag = nn.Conv1d(1, config.FftBins, config.WindowSize, stride: config.HopSize, bias: false);
        var stft = new ModuleDict<nn.Module>();
        stft.Add(("conv_real", _stftReal));
        stft.Add(("conv_imag", _stftImag));
        spectrogram_extractor = new ModuleDict<nn.Module>();
        spectrogram_extractor.Add(("stft", stft));
        logmel_extractor = new ParameterDict();
        logmel_extractor.Add(("melW", new Parameter(torch.full(config.FftBins, config.MelBins, double.NaN), requires_grad: false)));
        using (torch.no_grad())
        {
            foreach (var w in new[] { _stftReal.weight!, _stftImag.weight! })
            {
                w.fill_(double.NaN);
                w.requires_grad = false;
            }
        }

        bn0 = nn.BatchNorm2d(config.MelBins, eps: config.BnEps);
        fc1 = nn.Linear(config.ConvBlockWidths[^1], config.OutEmb);
        fc_audioset = nn.Linear(config.OutEmb, config.ClassesNum);

        register_module(nameof(spectrogram_extractor), spectrogram_extractor);
        register_module(nameof(logmel_extractor), logmel_extractor);
        register_module(nameof(bn0), bn0);
        long cin = 1;
        var widths = config.ConvBlockWidths;
        for (int i = 0; i < widths.Length; i++)
        {
            var pool = (i == widths.Length - 1 ? config.LastBlockPoolSize : config.PoolSize).Select(p => (long)p).ToArray();
            var block = new Cnn14ConvBlock(cin, widths[i], pool, config.PoolType, config.BnEps);
            _blocks.Add(block);
            register_module($"conv_block{i + 1}", block);
            cin = widths[i];
        }
        register_module(nameof(fc1), fc1);
        register_module(nameof(fc_audioset), fc_audioset);
    }

    /// <summary>STFT real-part kernels [n_fft/2+1, 1, n_fft] (official <c>spectrogram_extractor.stft.conv_real.weight</c>).</summary>
    public Tensor StftReal => _stftReal.weight!;
    /// <summary>STFT imaginary-part kernels [n_fft/2+1, 1, n_fft].</summary>
    public Tensor StftImag => _stftImag.weight!;
    /// <summary>Mel filterbank [n_fft/2+1, mel_bins] (official <c>logmel_extractor.melW</c>).</summary>
    public Tensor MelW => logmel_extractor["melW"];

    /// <summary>Embedding [B, out_emb] from a log-mel [B, 1, T, mel_bins] (or [B, T, mel_bins]).</summary>
    public override Tensor forward(Tensor logmel)
    {
        var (embedding, clipwise) = Run(logmel);
        clipwise.Dispose();
        return embedding;
    }

    /// <summary>
    /// Official eval forward. Returns (embedding [B, out_emb], clipwise_output [B, classes]); when
    /// <paramref name="debug"/> is given it receives bn0_out, conv_block1_out, inner_layer and pooled.
    /// </summary>
    public (Tensor Embedding, Tensor ClipwiseOutput) Run(Tensor logmel, IDictionary<string, Tensor>? debug = null)
    {
        bool ok = logmel.dim() switch
        {
            3 => logmel.shape[2] == Config.MelBins,
            4 => logmel.shape[1] == 1 && logmel.shape[3] == Config.MelBins,
            _ => false,
        };
        if (!ok)
            throw new SonicException($"Cnn14: log-mel input must be [B, 1, T, {Config.MelBins}] or [B, T, {Config.MelBins}], got [{string.Join(", ", logmel.shape)}]");

        using var scope = torch.NewDisposeScope();
        if (logmel.dim() == 3) logmel = logmel.unsqueeze(1);
        void Keep(string role, Tensor t)
        {
            if (debug != null) debug[role] = t.alias().DetachFromDisposeScope();
        }

        var x = bn0.forward(logmel.transpose(1, 3)).transpose(1, 3);
        Keep("bn0_out", x);
        for (int i = 0; i < _blocks.Count; i++)
        {
            x = nn.functional.dropout(_blocks[i].forward(x), 0.2, training);
            if (i == 0) Keep("conv_block1_out", x);
        }
        x = x.mean([3]);
        Keep("inner_layer", x);
        x = x.max(2).values + x.mean([2]);
        Keep("pooled", x);
        x = nn.functional.dropout(x, 0.5, training);
        x = nn.functional.relu(fc1.forward(x));
        var embedding = nn.functional.dropout(x, 0.5, training);
        var clipwise = torch.sigmoid(fc_audioset.forward(x));
        return (embedding.MoveToOuterDisposeScope(), clipwise.MoveToOuterDisposeScope());
    }
}
