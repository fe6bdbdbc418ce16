using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// One UNet encoder level: diffusers <c>CrossAttnDownBlock2D</c> (a Transformer2DModel after every resnet) or
/// <c>DownBlock2D</c> (<c>attentions</c> empty), then an optional stride-2 downsampler.
/// </summary>
public sealed class UNetDownBlock2D : nn.Module
{
    public readonly ModuleList<ResnetBlock2D> resnets;
    public readonly ModuleList<Transformer2DModel> attentions;
    public readonly ModuleList<Downsample2D> downsamplers;

    public UNetDownBlock2D(UNet2DConditionConfig cfg, int level, long inChannels) : base(nameof(UNetDownBlock2D))
    {
        long outChannels = cfg.BlockOutChannels[level];
        var res = new List<ResnetBlock2D>();
        var attn = new List<Transformer2DModel>();
        for (int j = 0; j < cfg.LayersPerBlock; j++)
        {
            res.Add(new ResnetBlock2D(j == 0 ? inChannels : outChannels, outChannels, cfg.TimeEmbedDim, cfg.NormNumGroups, cfg.NormEps));
            if (cfg.DownHasAttention(level))
            {
                int heads = cfg.HeadsAt(level);
                attn.Add(new Transformer2DModel(outChannels, heads, (int)(outChannels / heads), cfg.CrossAttentionDim,
                    cfg.TransformerLayersAt(level), cfg.NormNumGroups, cfg.UseLinearProjection));
            }
        }
        resnets = new ModuleList<ResnetBlock2D>(res.ToArray());
        attentions = new ModuleList<Transformer2DModel>(attn.ToArray());
        downsamplers = level < cfg.NumLevels - 1
            ? new ModuleList<Downsample2D>(new Downsample2D(outChannels, cfg.DownsamplePadding))
            : new ModuleList<Downsample2D>();
        RegisterComponents();
    }

    /// <summary>Runs the level; every output that feeds a skip connection is appended to <paramref name="skips"/>.</summary>
    public Tensor forward(Tensor h, Tensor temb, Tensor encoderHiddenStates, UNetCallContext? context, List<Tensor> skips)
    {
        for (int j = 0; j < resnets.Count; j++)
        {
            h = resnets[j].forward(h, temb, context);
            if (attentions.Count > 0) h = attentions[j].forward(h, encoderHiddenStates, context);
            skips.Add(h);
        }
        if (downsamplers.Count > 0)
        {
            h = downsamplers[0].forward(h);
            skips.Add(h);
        }
        return h;
    }
}
