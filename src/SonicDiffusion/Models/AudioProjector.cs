using SonicDiffusion.Core;
using SonicDiffusion.IO;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// SonicDiffusion audio projector (official <c>Adapter</c>, <c>audio_projector_res.py</c>): CLAP embedding [B, 1, 1024]
/// → audio tokens [B, K, 768] (K = audio_token_count, 77). Parameter names are exactly <c>Adapter.state_dict()</c>.
/// In the default residual mode every block reads the conv-stack output, so only the last block is computed (the
/// others cannot change the result); <see cref="AudioProjectorConfig.ResidualChained"/> chains the blocks instead.
/// </summary>
public sealed class AudioProjector : nn.Module<Tensor, Tensor>
{
    private readonly Sequential audio_emb_projection;
    private readonly ModuleList<AudioProjectorSelfAttention> cross_attention;
    private readonly ModuleList<Sequential> between_attention;
    private readonly Sequential to_out_adapter;

    public AudioProjectorConfig Config { get; }

    public AudioProjector(AudioProjectorConfig config) : base(nameof(AudioProjector))
    {
        Config = config.Validate("AudioProjectorConfig");
        long k = config.AudioTokenCount, d = config.AudioDim, c = config.ContextDim, inner = config.InnerDim;
        double eps = config.LayerNormEps, p = config.Dropout;
        nn.Module<Tensor, Tensor> Gelu() => config.Gelu == "tanh" ? nn.GELU(GELU.Approximate.tanh) : nn.GELU();

        audio_emb_projection = nn.Sequential(
            ("0", nn.Conv1d(config.InitialChannelDim, k, 17, stride: 1, padding: 8)),
            ("1", Gelu()),
            ("2", nn.Conv1d(k, k, 17, stride: 1, padding: 8)),
            ("3", Gelu()),
            ("4", nn.LayerNorm([k, d], eps)),
            ("5", nn.Conv1d(k, k, 17, stride: 1, padding: 8)),
            ("6", Gelu()),
            ("7", nn.LayerNorm([k, d], eps)),
            ("8", nn.ConvTranspose1d(k, k, 17, stride: 3, padding: 7)),
            ("9", Gelu()),
            ("10", nn.LayerNorm([k, config.UpsampledLength], eps)),
            ("11", Gelu()),
            ("12", nn.Conv1d(k, k, 17, stride: 4, padding: 7)),
            ("13", nn.Dropout(p)));
        cross_attention = new ModuleList<AudioProjectorSelfAttention>(Enumerable.Range(0, config.TransformerLayerCount)
            .Select(_ => new AudioProjectorSelfAttention(c, config.H, config.DimHead)).ToArray());
        between_attention = new ModuleList<Sequential>(Enumerable.Range(0, config.TransformerLayerCount)
            .Select(_ => nn.Sequential(
                ("0", nn.Linear(inner, inner)),
                ("1", Gelu()),
                ("2", nn.Linear(inner, c)),
                ("3", nn.Dropout(p)))).ToArray());
        to_out_adapter = nn.Sequential(("0", nn.Linear(c, c)), ("1", nn.Dropout(p)));
        RegisterComponents();
        CpuKernels.GuardConvolutions(this);
        eval();
    }

    /// <summary>Audio tokens [B, K, context_dim] from a CLAP embedding [B, initial_channel_dim, audio_dim] (or [B, audio_dim]).</summary>
    public override Tensor forward(Tensor audioEmb) => Project(audioEmb);

    /// <summary>As <see cref="forward"/>; <paramref name="debug"/>, when given, receives audio_proj (the conv-stack output).</summary>
    public Tensor Project(Tensor audioEmb, IDictionary<string, Tensor>? debug = null)
    {
        bool ok = audioEmb.dim() switch
        {
            2 => Config.InitialChannelDim == 1 && audioEmb.shape[1] == Config.AudioDim,
            3 => audioEmb.shape[1] == Config.InitialChannelDim && audioEmb.shape[2] == Config.AudioDim,
            _ => false,
        };
        if (!ok)
            throw new SonicException($"AudioProjector: input must be [B, {Config.InitialChannelDim}, {Config.AudioDim}], got [{string.Join(", ", audioEmb.shape)}]");

        using var scope = torch.NewDisposeScope();
        var x = audioEmb.dim() == 2 ? audioEmb.unsqueeze(1) : audioEmb;
        var audioProj = audio_emb_projection.forward(x);
        if (debug != null) debug["audio_proj"] = audioProj.alias().DetachFromDisposeScope();

        int n = Config.TransformerLayerCount;
        Tensor h = audioProj;
        if (Config.Chained)
        {
            for (int i = 0; i < n; i++) h = between_attention[i].forward(cross_attention[i].forward(h)) + h;
        }
        else
        {
            h = between_attention[n - 1].forward(cross_attention[n - 1].forward(audioProj)) + audioProj;
        }
        return to_out_adapter.forward(h).MoveToOuterDisposeScope();
    }

    /// <summary>Loads an <c>Adapter.state_dict()</c> (e.g. a released audio_projector_*.pth); every key must match.</summary>
    public LoadReport LoadWeights(IReadOnlyDictionary<string, Tensor> weights, string source) => WeightLoader.Load(this, weights, source);
}
