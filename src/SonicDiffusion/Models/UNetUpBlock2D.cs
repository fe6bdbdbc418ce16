using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// One UNet decoder level: diffusers <c>CrossAttnUpBlock2D</c> or <c>UpBlock2D</c> (<c>attentions</c> empty).
/// layers_per_block + 1 resnets, each fed <c>cat([h, skip], dim 1)</c> with the latest skip, then an optional upsampler.
/// </summary>
public sealed class UNetUpBlock2D : nn.Module
{
    public readonly ModuleList<ResnetBlock2D> resnets;
    public readonly ModuleList<Transformer2DModel> attentions;
    public readonly ModuleList<Upsample2D> upsamplers;

    /// <param name="upIndex">Index in up_blocks (0 = deepest level).</param>
    public UNetUpBlock2D(UNet2DConditionConfig cfg, int upIndex) : base(nameof(UNetUpBlock2D))
    {
        int n = cfg.NumLevels;
        var reversed = cfg.BlockOutChannels.Reverse().ToArray();
        long prevOutput = reversed[Math.Max(upIndex - 1, 0)];
        long outChannels = reversed[upIndex];
        long inChannels = reversed[Math.Min(upIndex + 1, n - 1)];
        int level = n - 1 - upIndex;
        int numLayers = cfg.LayersPerBlock + 1;
        var res = new List<ResnetBlock2D>();
        var attn = new List<Transformer2DModel>();
        for (int j = 0; j < numLayers; j++)
        {
            long skipChannels = j == numLayers - 1 ? inChannels : outChannels;
            long resIn = j == 0 ? prevOutput : outChannels;
            res.Add(new ResnetBlock2D(resIn + skipChannels, outChannels, cfg.TimeEmbedDim, cfg.NormNumGroups, cfg.NormEps));
            if (cfg.UpHasAttention(upIndex))
            {
                int heads = cfg.HeadsAt(level);
                attn.Add(new Transformer2DModel(outChannels, heads, (int)(outChannels / heads), cfg.CrossAttentionDim,
                    cfg.TransformerLayersAt(level), cfg.NormNumGroups, cfg.UseLinearProjection));
            }
        }
        resnets = new ModuleList<ResnetBlock2D>(res.ToArray());
        attentions = new ModuleList<Transformer2DModel>(attn.ToArray());
        upsamplers = upIndex < n - 1 ? new ModuleList<Upsample2D>(new Upsample2D(outChannels)) : new ModuleList<Upsample2D>();
        RegisterComponents();
    }

    /// <summary>
    /// Pops one skip per resnet from the end of <paramref name="skips"/>; <paramref name="onLayer"/> receives each
    /// layer's output (the last one after the upsampler). The upsampler targets the size of the next remaining skip.
    /// </summary>
    public Tensor forward(Tensor h, List<Tensor> skips, Tensor temb, Tensor encoderHiddenStates, UNetCallContext? context, Action<Tensor>? onLayer = null)
    {
        for (int j = 0; j < resnets.Count; j++)
        {
            var skip = skips[^1];
            skips.RemoveAt(skips.Count - 1);
            using (var cat = torch.cat(new[] { h, skip }, 1))
                h = resnets[j].forward(cat, temb, context);
            if (attentions.Count > 0) h = attentions[j].forward(h, encoderHiddenStates, context);
            if (j < resnets.Count - 1 || upsamplers.Count == 0) onLayer?.Invoke(h);
        }
        if (upsamplers.Count > 0)
        {
            long[]? size = skips.Count > 0 ? new[] { skips[^1].shape[2], skips[^1].shape[3] } : null;
            h = upsamplers[0].forward(h, size);
            onLayer?.Invoke(h);
        }
        return h;
    }
}
