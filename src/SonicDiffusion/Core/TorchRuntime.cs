using TorchSharp;

namespace SonicDiffusion.Core;

/// <summary>Process-wide TorchSharp set-up: device parsing and a check that libtorch loads.</summary>
public static class TorchRuntime
{
    public static torch.Device ParseDevice(string? name)
    {
        var n = (name ?? "cpu").Trim().ToLowerInvariant();
        if (n == "cpu") return torch.CPU;
        if (n.StartsWith("cuda", StringComparison.Ordinal))
        {
            if (!torch.cuda.is_available())
                throw new SonicException($"--device {name}: CUDA is not available in this build (the CPU libtorch package is referenced; see README 'GPU').");
            return new torch.Device(n);
        }
        throw new SonicException($"--device {name}: unknown device (use cpu or cuda[:N]).");
    }

    /// <summary>Returns the libtorch version string after forcing the native library to load.</summary>
    public static string Describe()
    {
        using var t = torch.ones(2, 2);
        var sum = t.sum().item<float>();
        return $"TorchSharp {typeof(torch).Assembly.GetName().Version}, libtorch {torch.__version__}, threads {torch.get_num_threads()}, check {sum}";
    }
}
