using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests.Infrastructure;

/// <summary>
/// A tiny random-weight SonicDiffusion model bundle: the tiny SD folder of <see cref="TinyStableDiffusion"/> plus a tiny
/// CLAP encoder (real CLAP 2022 front end, narrow Cnn14), a tiny projector and adapters at the official sites (mid
/// block + up-block transformer blocks = 3 sites here); the projector has the official 8 heads (official files do not
/// record them, so a loader must assume 8). The projector's conv stack maps audio_dim d to ⌊(3d − 3)/4⌋ + 1
/// features, so d = 43 gives the UNet's 32-wide context.
/// </summary>
public static class TinySonicBundle
{
    public static Cnn14Config EncoderConfig { get; } = new()
    {
        ConvBlockWidths = [4, 4, 8, 8, 8, 8], OutEmb = 8, DProj = 43, ClassesNum = 4,
    };

    public static AudioProjectorConfig ProjectorConfig { get; } = new()
    {
        AudioDim = 43, AudioTokenCount = 8, ContextDim = 32, DimHead = 4, H = 8, TransformerLayerCount = 2,
    };

    public static AudioAdapterConfig AdapterConfig { get; } = new() { GateInit = 0.7 };

    /// <summary>Writes the bundle into <paramref name="dir"/> and returns it.</summary>
    public static string WriteBundle(string dir, long seed = 1)
    {
        TinyStableDiffusion.WriteFolder(dir, seed);
        SonicDiffusionModel.WriteModelIndex(dir);
        torch.manual_seed(seed + 100);
        using (var encoder = new ClapAudioEncoder(EncoderConfig))
        {
            using (no_grad())
                foreach (var (name, b) in encoder.named_buffers())
                    if (name.EndsWith("running_var", StringComparison.Ordinal)) b.uniform_(0.5, 2.0);
            var state = encoder.named_parameters().Select(p => (p.name, (Tensor)p.parameter))
                .Concat(encoder.named_buffers().Select(b => (b.name, b.buffer)))
                .Where(kv => !ClapAudioEncoder.FrontEndNames.Contains(kv.Item1))
                .Select(kv => (CheckpointConverter.ClapAudioPrefix + kv.Item1, kv.Item2));
            Save(Path.Combine(dir, SonicDiffusionModel.AudioEncoderFolder), state, EncoderConfig);
        }
        using (var projector = new AudioProjector(ProjectorConfig))
            Save(Path.Combine(dir, SonicDiffusionModel.AudioProjectorFolder), projector.named_parameters().Select(p => (p.name, (Tensor)p.parameter)), ProjectorConfig);
        using (var unet = new UNet2DConditionModel(TinyStableDiffusion.UNetConfig))
        {
            var set = AudioAdapterSet.Install(unet, AdapterConfig);
            using (no_grad())
                foreach (var a in set.Adapters) a.attn_adapter!.to_out[0].parameters().First().mul_(4);
            Save(Path.Combine(dir, SonicDiffusionModel.AdaptersFolder), set.Parameters().Select(kv => (kv.Key, kv.Value)),
                AdapterConfig with { Sites = set.Sites.Select(s => s.Path).ToArray() });
        }
        return dir;
    }

    private static void Save<T>(string dir, IEnumerable<(string Name, Tensor Tensor)> tensors, T config)
    {
        Directory.CreateDirectory(dir);
        var dict = tensors.ToDictionary(kv => kv.Name, kv => kv.Tensor.detach().clone());
        if (dict.Values.Any(t => t.is_floating_point() && !t.isfinite().all().item<bool>()))
            throw new InvalidOperationException($"{dir}: random init produced non-finite weights");
        SafetensorsWriter.Write(Path.Combine(dir, SonicDiffusionModel.WeightsFile), dict);
        foreach (var t in dict.Values) t.Dispose();
        ConfigJson.Write(Path.Combine(dir, SonicDiffusionModel.ConfigFile), config);
    }

    /// <summary>
    /// The bundle's audio parts in the released formats, in <paramref name="dir"/>: <c>tiny.pt</c> (gate dict),
    /// <c>audio_projector_tiny.pth</c> and <c>CLAP_tiny.pth</c> (<c>{'model': ...}</c> with <c>audio_encoder.</c> keys, a
    /// stand-in caption-encoder tensor and <c>logit_scale</c>). Returns (gate, projector, clap).
    /// </summary>
    public static (string Gate, string Projector, string Clap) WriteOfficialFiles(SonicDiffusionModel model, string dir)
    {
        var (gate, proj) = model.ExportOfficial(dir, "tiny");
        var clap = Path.Combine(dir, "CLAP_tiny.pth");
        var state = new List<KeyValuePair<string, Tensor>>();
        foreach (var (n, p) in model.AudioEncoder.named_parameters())
            if (!ClapAudioEncoder.FrontEndNames.Contains(n)) state.Add(new(CheckpointConverter.ClapAudioPrefix + n, p.detach().clone()));
        foreach (var (n, b) in model.AudioEncoder.named_buffers())
            if (!ClapAudioEncoder.FrontEndNames.Contains(n)) state.Add(new(CheckpointConverter.ClapAudioPrefix + n, b.clone()));
        state.Add(new("caption_encoder.base.embeddings.word_embeddings.weight", torch.randn(5, 3)));
        state.Add(new("logit_scale", torch.tensor(new float[] { 2.6f })));
        TorchZipWriter.Write(clap, state, wrapper: "model");
        foreach (var kv in state) kv.Value.Dispose();
        return (gate, proj, clap);
    }

    /// <summary>A float32 mono WAV of a tone (Hz) plus optional noise.</summary>
    public static string WriteTone(string path, double hz, double seconds = 3, int rate = 22050, double noise = 0, int seed = 0, float amplitude = 0.5f)
    {
        var rng = new Random(seed);
        var x = new float[(int)(seconds * rate)];
        for (int i = 0; i < x.Length; i++)
            x[i] = (float)(amplitude * Math.Sin(2 * Math.PI * hz * i / rate) + noise * (rng.NextDouble() - 0.5));
        WavWriter.WriteFloat32(path, x, rate);
        return path;
    }
}
