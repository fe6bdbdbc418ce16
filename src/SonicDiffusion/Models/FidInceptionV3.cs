using SonicDiffusion.Core;
using SonicDiffusion.IO;
using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace SonicDiffusion.Models;

/// <summary>
/// The InceptionV3 of FID as pytorch-fid builds it (<c>fid_inception_v3</c>, TensorFlow's 2015-12-05 graph): torchvision
/// <c>Inception3</c> names (<c>Conv2d_1a_3x3.conv.weight</c>, <c>Mixed_7c.branch_pool.bn.running_var</c>, …), so the
/// released <c>pt_inception-2015-12-05-6726825d.pth</c> loads as it is (its 1008-class <c>fc</c> is not used).
/// <see cref="Features"/> is pytorch-fid's <c>InceptionV3([3])</c>: bilinear resize to 299×299 (align_corners false),
/// 2x − 1, the four blocks, global average pool → pool3 [N, 2048]. <paramref name="widthDivisor"/> 1 is the real
/// network; larger values divide every channel count (the parity fixtures' tiny networks).
/// </summary>
public sealed class FidInceptionV3 : nn.Module
{
    public const int InputSize = 299;

    private readonly InceptionConv Conv2d_1a_3x3, Conv2d_2a_3x3, Conv2d_2b_3x3, Conv2d_3b_1x1, Conv2d_4a_3x3;
    private readonly InceptionBlockA Mixed_5b, Mixed_5c, Mixed_5d;
    private readonly InceptionBlockB Mixed_6a;
    private readonly InceptionBlockC Mixed_6b, Mixed_6c, Mixed_6d, Mixed_6e;
    private readonly InceptionBlockD Mixed_7a;
    private readonly InceptionBlockE Mixed_7b, Mixed_7c;

    public int WidthDivisor { get; }
    public int FeatureDim => 2048 / WidthDivisor;
    public string Source { get; private set; } = "";

    public FidInceptionV3(int widthDivisor = 1) : base(nameof(FidInceptionV3))
    {
        if (widthDivisor < 1 || 16 % widthDivisor != 0) throw new SonicException($"Inception width divisor {widthDivisor}: must divide 16");
        int d = WidthDivisor = widthDivisor;
        Conv2d_1a_3x3 = new InceptionConv(3, 32 / d, 3, stride: 2);
        Conv2d_2a_3x3 = new InceptionConv(32 / d, 32 / d, 3);
        Conv2d_2b_3x3 = new InceptionConv(32 / d, 64 / d, 3, padding: 1);
        Conv2d_3b_1x1 = new InceptionConv(64 / d, 80 / d, 1);
        Conv2d_4a_3x3 = new InceptionConv(80 / d, 192 / d, 3);
        Mixed_5b = new InceptionBlockA(192 / d, 32 / d, d);
        Mixed_5c = new InceptionBlockA(256 / d, 64 / d, d);
        Mixed_5d = new InceptionBlockA(288 / d, 64 / d, d);
        Mixed_6a = new InceptionBlockB(288 / d, d);
        Mixed_6b = new InceptionBlockC(768 / d, 128 / d, d);
        Mixed_6c = new InceptionBlockC(768 / d, 160 / d, d);
        Mixed_6d = new InceptionBlockC(768 / d, 160 / d, d);
        Mixed_6e = new InceptionBlockC(768 / d, 192 / d, d);
        Mixed_7a = new InceptionBlockD(768 / d, d);
        Mixed_7b = new InceptionBlockE(1280 / d, maxPool: false, d);
        Mixed_7c = new InceptionBlockE(2048 / d, maxPool: true, d);
        RegisterComponents();
    }

    /// <summary>
    /// Images [N, 3, H, W] in [0, 1] → pool3 features [N, 2048]; <paramref name="blocks"/> receives pytorch-fid's four
    /// block outputs. On the CPU oneDNN is off for the pass: capped at AVX2 on the Zen 5 of docs/benchmarks.md its
    /// convolutions gave Mixed_5b–6e outputs off by up to 1.0 of values ≈ 3.5 on the parity fixture (exact with it off).
    /// </summary>
    public Tensor Features(Tensor images01, List<Tensor>? blocks = null)
    {
        using var oneDnnOff = images01.device_type == DeviceType.CPU ? CpuKernels.OneDnnOff() : null;
        using var scope = torch.NewDisposeScope();
        var x = F.interpolate(images01, new long[] { InputSize, InputSize }, mode: InterpolationMode.Bilinear, align_corners: false);
        x = x * 2 - 1;
        x = Conv2d_2b_3x3.forward(Conv2d_2a_3x3.forward(Conv2d_1a_3x3.forward(x)));
        x = F.max_pool2d(x, 3, 2);
        blocks?.Add(x.alias().MoveToOuterDisposeScope());
        x = F.max_pool2d(Conv2d_4a_3x3.forward(Conv2d_3b_1x1.forward(x)), 3, 2);
        blocks?.Add(x.alias().MoveToOuterDisposeScope());
        foreach (var m in new nn.Module<Tensor, Tensor>[] { Mixed_5b, Mixed_5c, Mixed_5d, Mixed_6a, Mixed_6b, Mixed_6c, Mixed_6d, Mixed_6e }) x = m.forward(x);
        blocks?.Add(x.alias().MoveToOuterDisposeScope());
        x = Mixed_7c.forward(Mixed_7b.forward(Mixed_7a.forward(x)));
        x = F.adaptive_avg_pool2d(x, new long[] { 1, 1 });
        blocks?.Add(x.alias().MoveToOuterDisposeScope());
        return x.flatten(1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Loads torchvision-named weights (a <c>.pth</c> through the safe unpickler, or safetensors). The channel divisor is
    /// read from <c>Conv2d_1a_3x3.conv.weight</c> (32 output channels in the real network).
    /// </summary>
    public static FidInceptionV3 Load(string path)
    {
        if (!File.Exists(path)) throw new SonicException($"{path}: FID Inception weights not found (pt_inception-2015-12-05-6726825d.pth)");
        using var src = TensorFiles.Open(path);
        const string first = "Conv2d_1a_3x3.conv.weight";
        if (!src.Names.Contains(first)) throw new SonicException($"{path}: no '{first}'; not torchvision/pytorch-fid Inception weights");
        long c = src.Info(first).Shape[0];
        if (c <= 0 || 32 % c != 0) throw new SonicException($"{path}: {first} has {c} output channels; expected 32 (or 32 divided by a power of two)");
        var weights = new Dictionary<string, Tensor>();
        try
        {
            foreach (var n in src.Names.Where(n => !n.StartsWith("fc.", StringComparison.Ordinal)))
                weights[n] = src.Read(n, ScalarType.Float32);
            var model = new FidInceptionV3((int)(32 / c)) { Source = Path.GetFullPath(path) };
            WeightLoader.Load(model, weights, path);
            model.eval();
            return model;
        }
        finally
        {
            foreach (var t in weights.Values) t.Dispose();
        }
    }
}
