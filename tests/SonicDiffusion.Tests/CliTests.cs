using SonicDiffusion.Cli;
using SonicDiffusion.Core;
using TorchSharp;
using SonicDiffusion.Imaging;
using SonicDiffusion.Tests.Infrastructure;

namespace SonicDiffusion.Tests;

[CollectionDefinition("Console", DisableParallelization = true)]
public sealed class ConsoleCollection;

/// <summary>Runs `sonic` in-process with stdout/stderr captured.</summary>
[Collection("Console")]
public class CliTests
{
    public static (int Code, string Out, string Err) Sonic(params string[] args)
    {
        var (oldOut, oldErr) = (Console.Out, Console.Error);
        var (o, e) = (new StringWriter(), new StringWriter());
        // `--threads N` sets libtorch's thread count for the calling thread; a process would exit afterwards, an
        // in-process run must not leave it changed for later tests (a different count changes reduction order).
        int threads = TorchSharp.torch.get_num_threads();
        Console.SetOut(o);
        Console.SetError(e);
        try { return (SonicCommandLine.Run(args), o.ToString(), e.ToString()); }
        finally
        {
            Console.SetOut(oldOut);
            Console.SetError(oldErr);
            if (TorchSharp.torch.get_num_threads() != threads) TorchSharp.torch.set_num_threads(threads);
        }
    }

    private static string Golden(string rel) => Path.Combine(RepoPaths.Golden, rel);

    [Fact]
    public void InspectShowsKindTotalsAndInferredConfig()
    {
        var (code, output, _) = Sonic("inspect", Golden("unet_compvis_tiny/unet.safetensors"));
        Assert.Equal(0, code);
        Assert.Contains("kind UNet", output);
        Assert.Contains("684 tensors", output);
        Assert.Contains("inferred unet config", output);
        Assert.Contains("\"block_out_channels\"", output);
    }

    [Fact]
    public void InspectUnderstandsTorchPickles()
    {
        var (code, output, _) = Sonic("inspect", Golden("gated_block/block.pt"));
        Assert.Equal(0, code);
        Assert.Contains("format TorchZip", output);
    }

    [Fact]
    public void MaliciousPickleIsOneErrorLine()
    {
        var (code, _, err) = Sonic("inspect", Path.Combine(RepoPaths.Fixtures, "pt", "evil_os_system.pt"));
        Assert.Equal(1, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line);
        Assert.Contains("evil_os_system.pt", line);
    }

    [Theory]
    [InlineData("generate", "--audio", "x.wav")]
    [InlineData("txt2img", "--model", "m", "--prompt", "p")]
    [InlineData("edit", "--image", "x.png", "--audio", "x.wav")]
    public void TorchThreadsZeroIsOneErrorLine(params string[] args)
    {
        int before = TorchSharp.torch.get_num_threads();
        var (code, _, err) = Sonic([.. args, "--threads", "0"]);
        Assert.Equal(1, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("error: --threads 0: must be at least 1", line.Trim());
        Assert.Equal(before, TorchSharp.torch.get_num_threads());
    }

    [Fact]
    public void TextToImageWritesPngWithParameters()
    {
        using var tmp = new TempDir();
        var model = TinyStableDiffusion.WriteFolder(tmp.File("m"));
        var png = tmp.File("out/cat.png");
        var (code, output, err) = Sonic("txt2img", "--model", model, "--prompt", "a cat", "--steps", "3", "--size", "64", "--seed", "5", "--scheduler", "ddim", "--out", png);
        Assert.True(code == 0, err);
        Assert.Contains("wrote", output);
        var meta = PngText.Read(png);
        Assert.Equal("a cat", meta["prompt"]);
        Assert.Equal("ddim", meta["scheduler"]);
        Assert.Equal("5", meta["seed"]);
    }

    /// <summary>
    /// txt2img takes --dtype auto like generate and edit: on a CPU with bf16 dot products its bfloat16 path runs (the text
    /// tokens follow the UNet's dtype) and stays within bf16 precision of float32; elsewhere auto is float32 itself.
    /// </summary>
    [Fact]
    public void TextToImageRunsInTheAutoDtype()
    {
        using var tmp = new TempDir();
        var model = TinyStableDiffusion.WriteFolder(tmp.File("m"));
        string[] Args(string png, string dtype) => ["txt2img", "--model", model, "--prompt", "a cat", "--steps", "3", "--size", "64", "--seed", "5",
            "--scheduler", "ddim", "--out", png, "--dtype", dtype];
        var (code, output, err) = Sonic(Args(tmp.File("fp32.png"), "float32"));
        Assert.True(code == 0, err + output);
        (code, output, err) = Sonic(Args(tmp.File("auto.png"), "auto"));
        Assert.True(code == 0, err + output);
        using var fp32 = ImageTensor.Load(tmp.File("fp32.png"));
        using var auto = ImageTensor.Load(tmp.File("auto.png"));
        double diff = (fp32 - auto).abs().mean().item<float>();
        if (TorchRuntime.AutoComputeDtype(torch.CPU) == torch.ScalarType.BFloat16)
        {
            Assert.InRange(diff, 1e-6, 0.03);      // bfloat16 ran (not a copy of float32) and is close to it
            Assert.Equal("bfloat16", PngText.Read(tmp.File("auto.png"))["dtype"]);
        }
        else Assert.Equal(0.0, diff);
    }

    [Theory]
    [InlineData("--size", "63")]
    [InlineData("--scheduler", "euler-bogus")]
    [InlineData("--dtype", "float16")]
    [InlineData("--device", "tpu")]
    public void BadTextToImageArgumentsAreOneLine(string option, string value)
    {
        using var tmp = new TempDir();
        var model = TinyStableDiffusion.WriteFolder(tmp.File("m"));
        var args = new List<string> { "txt2img", "--model", model, "--steps", "2", "--out", tmp.File("x.png"), option, value };
        if (option != "--size") args.AddRange(["--size", "64"]);
        var (code, _, err) = Sonic(args.ToArray());
        Assert.Equal(1, code);
        var line = Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries), l => l.StartsWith("error: "));
        Assert.Contains(value, line);
        Assert.False(File.Exists(tmp.File("x.png")));
    }

    [Fact]
    public void MissingModelIsOneLine()
    {
        var (code, _, err) = Sonic("txt2img", "--model", "/nonexistent/model", "--prompt", "x");
        Assert.Equal(1, code);
        Assert.Contains("/nonexistent/model", Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries)));
    }
}
