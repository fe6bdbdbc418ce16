using System.Text.Json.Serialization;
using SonicDiffusion.Core;
using SonicDiffusion.IO;

namespace SonicDiffusion.Models;

/// <summary>
/// Hyper-parameters of the CLAP 2022 audio encoder (Cnn14 + projection head) as SonicDiffusion builds it.
/// Defaults are the real CLAP_weights_2022.pth sizes; JSON keys are the fixture / generator names (snake_case).
/// The front-end fields (sample_rate ... fmax) only size the STFT / mel tensors the checkpoint carries.
/// </summary>
public sealed record Cnn14Config
{
    public int[] ConvBlockWidths { get; init; } = [64, 128, 256, 512, 1024, 2048];
    /// <summary>Width of fc1 (the "embedding"); in CLAP it equals the last ConvBlock width.</summary>
    public int OutEmb { get; init; } = 2048;
    public int DProj { get; init; } = 1024;
    public int ClassesNum { get; init; } = 527;
    public int MelBins { get; init; } = 64;
    [JsonPropertyName("bn0_channels")] public int? Bn0Channels { get; init; }
    public int SampleRate { get; init; } = 44100;
    public int WindowSize { get; init; } = 1024;
    public int HopSize { get; init; } = 320;
    public double Fmin { get; init; } = 50;
    public double Fmax { get; init; } = 14000;
    public double BnEps { get; init; } = 1e-5;
    public double LayerNormEps { get; init; } = 1e-5;
    /// <summary>"avg" (CLAP), "max" or "avg+max", as the official ConvBlock.</summary>
    public string PoolType { get; init; } = "avg";
    public int[] PoolSize { get; init; } = [2, 2];
    public int[] LastBlockPoolSize { get; init; } = [1, 1];
    [JsonPropertyName("l2_normalize")] public bool L2Normalize { get; init; } = true;

    [JsonIgnore] public int FftBins => WindowSize / 2 + 1;

    /// <summary>The log-mel front end these sizes imply (CLAP 2022 defaults for everything else: 10 s clips, periodic Hann, Slaney mels).</summary>
    public SonicDiffusion.Audio.ClapFrontEndConfig FrontEnd() => new()
    {
        SampleRate = SampleRate, NFft = WindowSize, WinLength = WindowSize, HopLength = HopSize, NMels = MelBins, Fmin = Fmin, Fmax = Fmax,
    };

    /// <summary>Throws <see cref="SonicException"/> naming <paramref name="source"/> on an inconsistent config.</summary>
    public Cnn14Config Validate(string source)
    {
        if (ConvBlockWidths is not { Length: > 0 } || ConvBlockWidths.Any(w => w <= 0))
            throw new SonicException($"{source}: conv_block_widths must be a non-empty list of positive widths");
        if (OutEmb <= 0 || DProj <= 0 || ClassesNum <= 0 || MelBins <= 0 || WindowSize <= 0 || HopSize <= 0)
            throw new SonicException($"{source}: out_emb, d_proj, classes_num, mel_bins, window_size and hop_size must be positive");
        if (Bn0Channels is { } b && b != MelBins)
            throw new SonicException($"{source}: bn0_channels {b} must equal mel_bins {MelBins} (bn0 normalises the mel axis)");
        if (PoolType is not ("avg" or "max" or "avg+max"))
            throw new SonicException($"{source}: pool_type '{PoolType}' is not one of avg, max, avg+max");
        if (PoolSize is not { Length: 2 } || LastBlockPoolSize is not { Length: 2 } || PoolSize.Concat(LastBlockPoolSize).Any(p => p <= 0))
            throw new SonicException($"{source}: pool_size and last_block_pool_size must be two positive integers");
        return this;
    }

    /// <summary>Reads the config from JSON text (fixture "config" object or a saved config.json).</summary>
    public static Cnn14Config FromJson(string json, string source) => ConfigJson.Parse<Cnn14Config>(json, source).Validate(source);

    /// <summary>
    /// Infers the sizes from checkpoint tensor shapes. Names may carry the CLAP prefix <c>audio_encoder.</c> or not.
    /// Fields that shapes cannot show (eps, pooling, sample rate, hop, fmin/fmax) keep the CLAP 2022 values; the
    /// window size comes from the STFT kernels when the checkpoint has them.
    /// </summary>
    public static Cnn14Config FromTensorShapes(IReadOnlyDictionary<string, long[]> shapes, string source)
    {
        var s = new Dictionary<string, long[]>(StringComparer.Ordinal);
        foreach (var (k, v) in shapes)
            s[k.StartsWith(ClapAudioEncoder.ClapPrefix, StringComparison.Ordinal) ? k[ClapAudioEncoder.ClapPrefix.Length..] : k] = v;

        long[] Need(string key) => s.TryGetValue(key, out var v)
            ? v
            : throw new SonicException($"{source}: tensor '{key}' (or '{ClapAudioEncoder.ClapPrefix}{key}') is missing, cannot infer the Cnn14 config");

        var widths = new List<int>();
        for (int i = 1; s.ContainsKey($"base.conv_block{i}.conv1.weight"); i++)
            widths.Add((int)s[$"base.conv_block{i}.conv1.weight"][0]);
        if (widths.Count == 0) Need("base.conv_block1.conv1.weight");

        var fc1 = Need("base.fc1.weight");
        var cfg = new Cnn14Config
        {
            ConvBlockWidths = widths.ToArray(),
            OutEmb = (int)fc1[0],
            ClassesNum = (int)Need("base.fc_audioset.weight")[0],
            DProj = (int)Need("projection.linear1.weight")[0],
            MelBins = (int)Need("base.bn0.weight")[0],
            WindowSize = s.TryGetValue(ClapAudioEncoder.StftRealName, out var stft) ? (int)stft[2] : 1024,
        };
        if (fc1[1] != widths[^1])
            throw new SonicException($"{source}: base.fc1.weight takes {fc1[1]} inputs but the last ConvBlock has {widths[^1]} channels");
        return cfg.Validate(source);
    }

    public static Cnn14Config FromTensorShapes(ITensorSource source) =>
        FromTensorShapes(source.Names.ToDictionary(n => n, n => source.Info(n).Shape), source.Path);
}
