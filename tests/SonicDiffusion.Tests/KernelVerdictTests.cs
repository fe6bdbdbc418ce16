using SonicDiffusion.Core;
using SonicDiffusion.Models;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>
/// The per-shape kernel verdicts (<see cref="ConvolutionVerdicts"/>): models match float64 under the default kernels,
/// a shape oneDNN gets wrong runs through ATen, verdicts are cached per machine and reused.
/// </summary>
[Collection(nameof(TrainerTests))]
public class KernelVerdictTests(ITestOutputHelper log)
{
    /// <summary>Verdicts in a fresh folder for the test's lifetime; oneDNN on as <see cref="CpuKernels.Configure"/> leaves it.</summary>
    private sealed class FreshVerdicts : IDisposable
    {
        private readonly TempDir _dir = new();
        private readonly string _before = ConvolutionVerdicts.Folder;
        private readonly bool _oneDnn = CpuKernels.OneDnn ?? throw new InvalidOperationException("libtorch's oneDNN switch is not reachable");

        public FreshVerdicts()
        {
            ConvolutionVerdicts.Folder = _dir.File("verdicts");
            Assert.True(CpuKernels.TrySetOneDnn(true));
        }

        public void Dispose()
        {
            CpuKernels.TrySetOneDnn(_oneDnn);
            ConvolutionVerdicts.Folder = _before;
            _dir.Dispose();
        }
    }

    /// <summary>
    /// The first run of a model on a machine checks its convolution shapes: the CLI shows that as a progress line and
    /// then says how many shapes it checked, how long that took and where the verdicts are kept; the next run, which
    /// finds them, says nothing. (A child process with its own verdict folder, as a new user's first run.)
    /// </summary>
    [Fact]
    public void TheFirstUseOfShapesShowsTheCheckAndWhatItCost()
    {
        using var tmp = new TempDir();
        string bundle = TinySonicBundle.WriteBundle(tmp.File("bundle"));
        string tone = TinySonicBundle.WriteTone(tmp.File("tone.wav"), 440);
        var env = new Dictionary<string, string> { ["SONIC_CACHE"] = tmp.File("cache") };
        string[] Args(string png) => ["generate", "--model", bundle, "--audio", tone, "--steps", "2", "--size", "64x64", "--dtype", "float32", "--out", png];
        var (code, output, err) = ScaleOutRecipes.SonicProcess(env, Args(tmp.File("a.png")));
        Assert.True(code == 0, err + output);
        log.WriteLine(err);
        bool oneDnnOn = CpuKernels.OneDnn == true && Environment.GetEnvironmentVariable(CpuKernels.OneDnnVariable) is null;
        if (oneDnnOn)
        {
            Assert.Contains("[checking kernels against float64 (first use of these shapes here)]", output);
            var note = Assert.Single(err.Split('\n'), l => l.StartsWith("note: checked ", StringComparison.Ordinal));
            Assert.Matches(@"^note: checked \d+ convolution shapes against float64 \(\d+\.\d s, once per shape on this machine; verdicts kept in .*kernel-verdicts/[0-9a-f]{16}\.json\)$", note.Trim());
            Assert.StartsWith(tmp.File("cache"), note[(note.IndexOf("kept in ", StringComparison.Ordinal) + 8)..]);
        }
        (code, output, err) = ScaleOutRecipes.SonicProcess(env, Args(tmp.File("b.png")));
        Assert.True(code == 0, err + output);
        Assert.DoesNotContain("note: checked ", err);
        Assert.DoesNotContain("[checking kernels", output);
    }

    /// <summary>The CLAP CNN14 of issue 21 (ConvBlock widths 6 … 128 on a [3, 1, 138, 64] log-mel): on an AMD EPYC (Zen 5)
    /// oneDNN got it wrong from its second block on (capped at AVX2 and uncapped), so without the verdicts this fails there.</summary>
    [Fact]
    public void NarrowCnn14MatchesFloat64UnderTheDefaultKernels()
    {
        using var fresh = new FreshVerdicts();
        var config = new Cnn14Config { ConvBlockWidths = [6, 12, 24, 40, 80, 128], OutEmb = 112, DProj = 72, ClassesNum = 12 };
        manual_seed(5);
        using var encoder = new ClapAudioEncoder(config);
        using var reference = new ClapAudioEncoder(config);
        reference.load_state_dict(encoder.state_dict());
        foreach (var (_, m) in reference.named_modules())
            if (!m.named_children().Any() && m is not TorchSharp.Modules.ParameterDict) m.to(ScalarType.Float64);   // Module.to fails on ParameterDict
        manual_seed(7);
        using var logmel = randn(3, 1, 138, 64) * 4;
        using var mode = inference_mode();
        using var expected = reference.Encode(logmel.to(ScalarType.Float64));
        for (int run = 0; run < 3; run++)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            using var actual = encoder.Encode(logmel);
            double err = (actual.Embedding.to(ScalarType.Float64) - expected.Embedding).abs().max().item<double>();
            double size = expected.Embedding.abs().max().item<double>();
            log.WriteLine($"run {run}: {sw.Elapsed.TotalMilliseconds:0} ms, embedding off by {err:g3} (largest {size:g3}); {ConvolutionVerdicts.Describe()}");
            Assert.True(err <= 1e-5 * size, $"run {run}: embedding off by {err:g3} (largest {size:g3})");
        }
        foreach (var v in ConvolutionVerdicts.All) log.WriteLine($"{(v.OneDnnRight ? "ok   " : "ATen ")} {v.Shape}: {v.RelativeError:0.0e0}, {v.CheckMilliseconds:0.0} ms");
        Assert.Equal(12, ConvolutionVerdicts.All.Count);
    }

    /// <summary>One routed convolution, as the models hold theirs.</summary>
    private sealed class RoutedConv : nn.Module<Tensor, Tensor>
    {
        private readonly TorchSharp.Modules.Conv2d conv;

        public RoutedConv(int inChannels, int outChannels) : base(nameof(RoutedConv))
        {
            conv = nn.Conv2d(inChannels, outChannels, 3, padding: 1);
            RegisterComponents();
            CpuKernels.GuardConvolutions(this);
        }

        public TorchSharp.Modules.Conv2d Conv => conv;

        public override Tensor forward(Tensor x) => conv.call(x);
    }

    /// <summary>
    /// A stand-in for a oneDNN kernel that is wrong at one shape (its input shifted whenever oneDNN is on): the verdict
    /// catches it at the first call, recomputes that call and runs later calls through ATen, and a new process reads the
    /// verdict from the cache instead of checking again. Fails on any CPU when the verdicts are ignored.
    /// </summary>
    [Fact]
    public void AShapeOneDnnGetsWrongRunsThroughAtenFromItsFirstCall()
    {
        using var fresh = new FreshVerdicts();
        manual_seed(4);
        using var layer = new RoutedConv(8, 8);
        layer.Conv.register_forward_pre_hook((_, x) => CpuKernels.OneDnn == true ? x + 1 : x);
        using var w64 = layer.Conv.weight!.detach().to(ScalarType.Float64);
        using var b64 = layer.Conv.bias!.detach().to(ScalarType.Float64);
        var heard = new List<ConvolutionVerdict>();
        void Hear(ConvolutionVerdict v) => heard.Add(v);
        ConvolutionVerdicts.Checked += Hear;
        try
        {
            using var mode = inference_mode();
            for (int call = 0; call < 3; call++)
            {
                if (call == 2) ConvolutionVerdicts.Folder = ConvolutionVerdicts.Folder;   // a new process: verdicts from the file
                using var x = randn(2, 8, 12, 10);
                using var y = layer.forward(x);
                using var expected = nn.functional.conv2d(x.to(ScalarType.Float64), w64, b64, padding: [1, 1]);
                double err = (y.to(ScalarType.Float64) - expected).abs().max().item<double>();
                Assert.True(err < 1e-5, $"call {call}: off by {err:g3}");
                Assert.True(CpuKernels.OneDnn, $"call {call}: oneDNN left off");
            }
        }
        finally { ConvolutionVerdicts.Checked -= Hear; }
        var verdict = Assert.Single(heard);
        Assert.Equal("2d 8→8 k3×3 s1×1 p1×1 on 12×10 batch 2 float32", verdict.Shape);
        Assert.False(verdict.OneDnnRight);
        Assert.True(verdict.RelativeError > 0.1, $"{verdict.RelativeError}");
        Assert.Equal(verdict with { CheckedAt = default }, ConvolutionVerdicts.Find(verdict.Shape)! with { CheckedAt = default });
        Assert.Contains(ConvolutionVerdicts.Machine, File.ReadAllText(ConvolutionVerdicts.FilePath));
        Assert.Contains("1 convolution shapes checked, 1 run through ATen", ConvolutionVerdicts.Describe());
    }

    [Fact]
    public void AnUnreadableVerdictFileIsCheckedAgainNotTrusted()
    {
        using var fresh = new FreshVerdicts();
        Directory.CreateDirectory(Path.GetDirectoryName(ConvolutionVerdicts.FilePath)!);
        File.WriteAllText(ConvolutionVerdicts.FilePath, "{ \"verdicts\": [ {\"shape\": 3");
        ConvolutionVerdicts.Folder = ConvolutionVerdicts.Folder;
        Assert.Empty(ConvolutionVerdicts.All);
        manual_seed(4);
        using var layer = new RoutedConv(4, 4);
        using (inference_mode()) layer.forward(randn(1, 4, 6, 6)).Dispose();
        var verdict = Assert.Single(ConvolutionVerdicts.All);
        Assert.True(verdict.OneDnnRight, $"{verdict.RelativeError}");
        ConvolutionVerdicts.Folder = ConvolutionVerdicts.Folder;
        Assert.Equal(verdict, Assert.Single(ConvolutionVerdicts.All));
    }

    /// <summary>Training records convolutions for autograd: no verdict is checked then (oneDNN is off), and gradients stay exact.</summary>
    [Fact]
    public void ARecordedConvolutionIsNotChecked()
    {
        using var fresh = new FreshVerdicts();
        manual_seed(4);
        using var layer = new RoutedConv(4, 4);
        using var x = randn(2, 4, 6, 6).requires_grad_(true);
        layer.forward(x).sum().backward();
        Assert.False(CpuKernels.OneDnn, "a recorded convolution left oneDNN on");
        Assert.Empty(ConvolutionVerdicts.All);
    }
}
