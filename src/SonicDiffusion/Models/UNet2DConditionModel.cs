using SonicDiffusion.Core;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Models;

/// <summary>
/// The Stable Diffusion v1 denoiser, diffusers <c>UNet2DConditionModel</c> with diffusers parameter names
/// (<c>conv_in</c>, <c>time_embedding</c>, <c>down_blocks</c>, <c>mid_block</c>, <c>up_blocks</c>, <c>conv_norm_out</c>,
/// <c>conv_out</c>). Forward: sample [B, Cin, H, W], timesteps (scalar or [B], integer or float), text context
/// [B, M, cross_attention_dim] → noise prediction [B, Cout, H, W].
/// <para>
/// Extension seams (no UNet fork needed): a <see cref="UNetCallContext"/> passed to <see cref="Forward"/> reaches every
/// block; <see cref="BasicTransformerBlock.SetExtension"/> adds a step between text cross-attention and feed-forward
/// (gated audio cross-attention); <see cref="Attention.Processor"/> replaces how any attention attends (PnP q/k
/// injection); <see cref="ResnetBlock2D.ResidualHook"/> rewrites a resnet's residual branch (PnP feature injection).
/// Modules are found by name with <c>named_modules()</c>, e.g. <c>up_blocks.1.resnets.1</c>.
/// </para>
/// </summary>
public sealed class UNet2DConditionModel : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    public readonly Conv2d conv_in;
    public readonly TimestepEmbedding time_embedding;
    public readonly ModuleList<UNetDownBlock2D> down_blocks;
    public readonly UNetMidBlock2DCrossAttn mid_block;
    public readonly ModuleList<UNetUpBlock2D> up_blocks;
    public readonly GroupNorm conv_norm_out;
    public readonly Conv2d conv_out;

    public UNet2DConditionConfig Config { get; }

    public UNet2DConditionModel(UNet2DConditionConfig config) : base(nameof(UNet2DConditionModel))
    {
        config.Validate();
        Config = config;
        var boc = config.BlockOutChannels;
        int n = config.NumLevels;
        conv_in = nn.Conv2d(config.InChannels, boc[0], 3, padding: 1);
        time_embedding = new TimestepEmbedding(boc[0], config.TimeEmbedDim);
        var down = new List<UNetDownBlock2D>();
        long prev = boc[0];
        for (int i = 0; i < n; i++)
        {
            down.Add(new UNetDownBlock2D(config, i, prev));
            prev = boc[i];
        }
        down_blocks = new ModuleList<UNetDownBlock2D>(down.ToArray());
        mid_block = new UNetMidBlock2DCrossAttn(config);
        up_blocks = new ModuleList<UNetUpBlock2D>(Enumerable.Range(0, n).Select(i => new UNetUpBlock2D(config, i)).ToArray());
        conv_norm_out = GroupNorms.Create(config.NormNumGroups, boc[0], config.NormEps);
        conv_out = nn.Conv2d(boc[0], config.OutChannels, 3, padding: 1);
        RegisterComponents();
        CpuKernels.GuardConvolutions(this);
    }

    public override Tensor forward(Tensor sample, Tensor timesteps, Tensor encoderHiddenStates) => Forward(sample, timesteps, encoderHiddenStates, null);

    /// <summary>The forward pass with per-call conditioning, hooks' state and optional capture in <paramref name="context"/>.</summary>
    public Tensor Forward(Tensor sample, Tensor timesteps, Tensor encoderHiddenStates, UNetCallContext? context)
    {
        if (sample.dim() != 4 || sample.shape[1] != Config.InChannels)
            throw new SonicException($"UNet: sample must be [B, {Config.InChannels}, H, W], got [{string.Join(", ", sample.shape)}]");
        if (encoderHiddenStates.dim() != 3 || encoderHiddenStates.shape[2] != Config.CrossAttentionDim)
            throw new SonicException($"UNet: encoder hidden states must be [B, M, {Config.CrossAttentionDim}], got [{string.Join(", ", encoderHiddenStates.shape)}]");
        long batch = sample.shape[0];
        using var scope = torch.NewDisposeScope();

        var t = timesteps.to(sample.device);
        if (t.dim() == 0) t = t.unsqueeze(0);
        if (t.dim() != 1 || (t.shape[0] != batch && t.shape[0] != 1))
            throw new SonicException($"UNet: timesteps must be a scalar, [1] or [{batch}], got [{string.Join(", ", timesteps.shape)}]");
        if (t.shape[0] != batch) t = t.expand(batch);

        var tEmb = TimestepEmbedding.Sinusoid(t, Config.BlockOutChannels[0], Config.FlipSinToCos, Config.FreqShift).to_type(sample.dtype);
        context?.Capture("t_emb", tEmb);
        var emb = time_embedding.forward(tEmb);
        context?.Capture("emb", emb);

        var h = Config.CenterInputSample ? sample * 2.0 - 1.0 : sample;
        h = conv_in.call(h);
        var skips = new List<Tensor> { h };
        foreach (var block in down_blocks) h = block.forward(h, emb, encoderHiddenStates, context, skips);
        if (context?.Debug != null)
            for (int i = 0; i < skips.Count; i++) context.Capture($"input_blocks.{i}", skips[i]);

        h = mid_block.forward(h, emb, encoderHiddenStates, context);
        context?.Capture("middle_block", h);

        int outIndex = 0;
        Action<Tensor>? onLayer = context?.Debug != null ? x => context.Capture($"output_blocks.{outIndex++}", x) : null;
        foreach (var block in up_blocks) h = block.forward(h, skips, emb, encoderHiddenStates, context, onLayer);

        h = conv_norm_out.forward(h);
        h = InferenceOps.SiluOwned(h);
        h = conv_out.call(h);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Every transformer block with its module path (e.g. <c>up_blocks.1.attentions.0.transformer_blocks.0</c>).</summary>
    public IEnumerable<(string Name, BasicTransformerBlock Block)> TransformerBlocks()
        => named_modules().Where(m => m.module is BasicTransformerBlock).Select(m => (m.name, (BasicTransformerBlock)m.module));
}
