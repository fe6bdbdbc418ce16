using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>diffusers <c>UNetMidBlock2DCrossAttn</c>: resnet, then (transformer, resnet) pairs.</summary>
public sealed class UNetMidBlock2DCrossAttn : nn.Module
{
    public readonly ModuleList<Transformer2DModel> attentions;
    public readonly ModuleList<ResnetBlock2D> resnets;

    public UNetMidBlock2DCrossAttn(UNet2DConditionConfig cfg, int numLayers = 1) : base(nameof(UNetMidBlock2DCrossAttn))
    {
        int last = cfg.NumLevels - 1;
        long c = cfg.BlockOutChannels[last];
        int heads = cfg.HeadsAt(last);
        var res = new List<ResnetBlock2D> { new(c, c, cfg.TimeEmbedDim, cfg.NormNumGroups, cfg.NormEps, cfg.MidBlockScaleFactor) };
        var attn = new List<Transformer2DModel>();
        for (int i = 0; i < numLayers; i++)
        {
            attn.Add(new Transformer2DModel(c, heads, (int)(c / heads), cfg.CrossAttentionDim, cfg.TransformerLayersAt(last), cfg.NormNumGroups, cfg.UseLinearProjection));
            res.Add(new ResnetBlock2D(c, c, cfg.TimeEmbedDim, cfg.NormNumGroups, cfg.NormEps, cfg.MidBlockScaleFactor));
        }
        attentions = new ModuleList<Transformer2DModel>(attn.ToArray());
        resnets = new ModuleList<ResnetBlock2D>(res.ToArray());
        RegisterComponents();
    }

    public Tensor forward(Tensor h, Tensor temb, Tensor encoderHiddenStates, UNetCallContext? context)
    {
        h = resnets[0].forward(h, temb, context);
        for (int i = 0; i < attentions.Count; i++)
        {
            h = attentions[i].forward(h, encoderHiddenStates, context);
            h = resnets[i + 1].forward(h, temb, context);
        }
        return h;
    }
}
