using SonicDiffusion.Diagnostics;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>
/// diffusers <c>ResnetBlock2D</c> (UNet and VAE): <c>h = conv1(SiLU(norm1(x)))</c>, <c>+ time_emb_proj(SiLU(temb))</c>
/// when a time embedding exists, <c>h = conv2(SiLU(norm2(h)))</c>, then <see cref="ResidualHook"/>, then
/// <c>(shortcut(x) + h) / output_scale_factor</c>; <c>conv_shortcut</c> (1×1) exists only when channels change.
/// </summary>
public sealed class ResnetBlock2D : nn.Module
{
    public readonly GroupNorm norm1;
    public readonly Conv2d conv1;
    public readonly Linear? time_emb_proj;
    public readonly GroupNorm norm2;
    public readonly Conv2d conv2;
    public readonly Conv2d? conv_shortcut;

    public long InChannels { get; }
    public long OutChannels { get; }
    public double OutputScaleFactor { get; }

    /// <summary>Optional hook on the residual branch (after conv2, before the shortcut add); null = none.</summary>
    public ResnetResidualHook? ResidualHook { get; set; }

    /// <param name="tembChannels">Time-embedding width; null = no time embedding (VAE).</param>
    public ResnetBlock2D(long inChannels, long outChannels, long? tembChannels, int groups, double eps, double outputScaleFactor = 1.0)
        : base(nameof(ResnetBlock2D))
    {
        InChannels = inChannels;
        OutChannels = outChannels;
        OutputScaleFactor = outputScaleFactor;
        norm1 = GroupNorms.Create(groups, inChannels, eps);
        conv1 = nn.Conv2d(inChannels, outChannels, 3, padding: 1);
        if (tembChannels is { } tc) time_emb_proj = nn.Linear(tc, outChannels);
        norm2 = GroupNorms.Create(groups, outChannels, eps);
        conv2 = nn.Conv2d(outChannels, outChannels, 3, padding: 1);
        if (inChannels != outChannels) conv_shortcut = nn.Conv2d(inChannels, outChannels, 1);
        RegisterComponents();
    }

    public Tensor forward(Tensor x, Tensor? temb = null, UNetCallContext? context = null)
    {
        using var section = time_emb_proj is null ? default : SectionProfiler.Measure("resnet");
        using var scope = torch.NewDisposeScope();
        var h = InferenceOps.SiluOwned(norm1.forward(x));
        h = InferenceOps.Consume(h, x, conv1.call);
        if (time_emb_proj != null && temb is not null)
        {
            var t = time_emb_proj.forward(F.silu(temb));
            h = h.add_(t.unsqueeze(-1).unsqueeze(-1));
        }
        h = InferenceOps.Consume(h, x, t => InferenceOps.SiluOwned(norm2.forward(t)));
        h = InferenceOps.Consume(h, x, conv2.call);
        if (ResidualHook != null) h = ResidualHook(this, h, context);
        var shortcut = conv_shortcut != null ? conv_shortcut.call(x) : x;
        var output = InferenceOps.Consume(h, x, t => shortcut + t);
        if (!ReferenceEquals(shortcut, x)) shortcut.Dispose();
        if (OutputScaleFactor != 1.0) output = output.div_(OutputScaleFactor);
        return output.MoveToOuterDisposeScope();
    }
}
