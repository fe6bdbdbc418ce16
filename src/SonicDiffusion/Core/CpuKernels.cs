using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Core;

/// <summary>
/// libtorch's process-wide CPU kernel choices that TorchSharp does not expose: <c>at::globalContext()</c>'s
/// userEnabledMkldnn (oneDNN) and userEnabledNNPACK switches, and oneDNN's instruction-set cap
/// (<c>ONEDNN_MAX_CPU_ISA</c>, read from the native environment when oneDNN first runs).
/// <para>Why (measured on an AMD EPYC, Zen 5, AVX-512 + AVX512_BF16; docs/benchmarks.md): oneDNN's convolution kernels
/// computed wrong outputs and NaN at some shapes (small feature maps, narrow channel counts) whether capped at AVX2 or
/// not, and its convolution backward pass wrong and NaN input gradients for narrow outputs (32 → 4 channels, 3×3, 16×16).
/// So the models' convolutions run by a per-shape verdict (<see cref="GuardConvolutions"/>, <see cref="ConvolutionVerdicts"/>):
/// oneDNN uncapped where it was checked right, ATen's own kernels where it was wrong; <see cref="Training.Trainer"/>
/// trains with oneDNN off, as does any other backward pass through the models' convolutions
/// (<see cref="GuardAutogradConvolutions"/>). NNPACK goes off too: on that CPU libtorch printed "Could not
/// initialize NNPACK! Reason: Unsupported hardware." on every convolution (4 715 lines for one `sonic generate`).</para>
/// </summary>
public static partial class CpuKernels
{
    private const string Library = "libtorch_cpu";
    /// <summary>Environment variable that overrides the oneDNN choice of <see cref="Configure"/>: 1 = on, 0 = off.</summary>
    public const string OneDnnVariable = "SONIC_ONEDNN";
    /// <summary>oneDNN's own cap on the instruction set it may use; a value set by the user is kept.</summary>
    public const string OneDnnIsaVariable = "ONEDNN_MAX_CPU_ISA";

    [LibraryImport("libc", EntryPoint = "getenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetEnv(string name);

    [LibraryImport(Library, EntryPoint = "_ZN2at13globalContextEv")]
    private static partial IntPtr GlobalContext();

    [LibraryImport(Library, EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool UserEnabledMkldnn(IntPtr context);

    [LibraryImport(Library, EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static partial void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [LibraryImport(Library, EntryPoint = "_ZNK2at7Context17userEnabledNNPACKEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool UserEnabledNnpack(IntPtr context);

    [LibraryImport(Library, EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    private static partial void SetUserEnabledNnpack(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    private static readonly Lock Gate = new();
    private static bool _configured;
    private static bool _userChoseOn;
    private static bool _offForAutograd;
    private static int _offHolders;
    private static bool _restore;

    /// <summary>Whether libtorch may use oneDNN kernels; null when this libtorch build does not export the switch.</summary>
    public static bool? OneDnn => Call(() => UserEnabledMkldnn(GlobalContext()));

    /// <summary>Whether libtorch may try NNPACK; null when this libtorch build does not export the switch.</summary>
    public static bool? Nnpack => Call(() => UserEnabledNnpack(GlobalContext()));

    /// <summary>Sets the oneDNN switch; false (nothing changed) when this libtorch build does not export it.</summary>
    public static bool TrySetOneDnn(bool enabled) => Call(() => { SetUserEnabledMkldnn(GlobalContext(), enabled); return true; }) ?? false;

    /// <summary>Sets the NNPACK switch; false (nothing changed) when this libtorch build does not export it.</summary>
    public static bool TrySetNnpack(bool enabled) => Call(() => { SetUserEnabledNnpack(GlobalContext(), enabled); return true; }) ?? false;

    /// <summary>
    /// The process-wide choice, once (later calls do nothing); call it before the first convolution: NNPACK off;
    /// oneDNN on or off as <see cref="OneDnnVariable"/> says (1 also makes the models ignore the per-shape verdicts),
    /// else left on, at the instruction set <see cref="OneDnnIsaVariable"/> names or the CPU's best. The CLI,
    /// StableDiffusionComponents.Load (so every model load) and Trainer.Run call it.
    /// </summary>
    public static void Configure()
    {
        lock (Gate)
        {
            if (_configured) return;
            string? choice = Environment.GetEnvironmentVariable(OneDnnVariable)?.Trim();
            if (choice is not (null or "" or "0" or "1"))
                throw new SonicException($"{OneDnnVariable}={choice}: use 1 (oneDNN on) or 0 (off)");
            _configured = true;
            TrySetNnpack(false);
            if (choice == "0") TrySetOneDnn(false);
            else if (choice == "1") { TrySetOneDnn(true); _userChoseOn = true; }
        }
    }

    /// <summary>oneDNN's instruction-set cap as the native environment holds it (null = none: the CPU's best).</summary>
    public static string? OneDnnIsa => NativeVariable(OneDnnIsaVariable);

    /// <summary>One line for `sonic info`: the kernel choices in force.</summary>
    public static string Describe() =>
        $"oneDNN {(OneDnn switch { true => "on", false => "off", null => "switch not reachable" })}" +
        (_offForAutograd && OneDnn == false ? " since a convolution was recorded for autograd" : "") +
        $" (instruction set {OneDnnIsa ?? "uncapped"}; {(_userChoseOn ? $"every convolution: {OneDnnVariable}=1" : "per convolution shape as its verdict says")}; off while training), NNPACK {(Nnpack switch { true => "on", false => "off", null => "switch not reachable" })}";

    private static string? NativeVariable(string name)
    {
        if (OperatingSystem.IsWindows()) return Environment.GetEnvironmentVariable(name);
        var p = GetEnv(name);
        return p == IntPtr.Zero ? null : Marshal.PtrToStringUTF8(p);
    }

    /// <summary>
    /// Turns oneDNN off until the returned handle is disposed; nested and concurrent holders share one switch, and the
    /// last one out restores what was there before the first.
    /// </summary>
    public static IDisposable OneDnnOff()
    {
        lock (Gate)
        {
            if (_offHolders++ == 0)
            {
                _restore = OneDnn == true;
                if (_restore) TrySetOneDnn(false);
            }
        }
        return new OffHandle();
    }

    private sealed class OffHandle : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            lock (Gate)
                if (--_offHolders == 0 && _restore) TrySetOneDnn(true);
        }
    }

    /// <summary>Whether the user asked for oneDNN on every convolution (<see cref="OneDnnVariable"/>=1): verdicts are then not applied.</summary>
    public static bool UserChoseOneDnn => _userChoseOn;

    /// <summary>
    /// What every model calls on itself: <see cref="GuardAutogradConvolutions"/>, then <see cref="ConvolutionVerdicts.Route"/>
    /// (the first sees to backward passes, the second to inference).
    /// </summary>
    public static void GuardConvolutions(nn.Module model)
    {
        GuardAutogradConvolutions(model);
        ConvolutionVerdicts.Route(model);
    }

    /// <summary>
    /// Makes the model's convolutions turn oneDNN off (for the rest of the process, unless <see cref="OneDnnVariable"/>=1)
    /// the first time one of them runs while autograd records it — a forward pass whose backward will follow outside
    /// <see cref="Training.Trainer"/>, e.g. a user's own training loop. ATen picks the backward kernel when the backward
    /// runs, and oneDNN's convolution backward was wrong on the CPU of docs/benchmarks.md, so the switch has to be off by
    /// then. Inference (no_grad, inference mode, frozen weights on untracked inputs) never triggers it.
    /// </summary>
    public static void GuardAutogradConvolutions(nn.Module model)
    {
        foreach (var (_, module) in model.named_modules())
        {
            if (module is not Conv2d conv) continue;
            conv.register_forward_pre_hook((_, x) =>
            {
                if (is_grad_enabled() && (x.requires_grad || conv.weight!.requires_grad)) OneDnnOffForAutograd();
                return x;
            });
        }
    }

    private static void OneDnnOffForAutograd()
    {
        lock (Gate)
        {
            if (_offHolders > 0 || _userChoseOn || OneDnn != true) return;
            TrySetOneDnn(false);
            _offForAutograd = true;
        }
    }

    /// <summary>Convolutions with fewer output channels than this (and a kernel wider than 1×1) run in float32 under bfloat16.</summary>
    public const int NarrowOutputChannels = 16;

    private static readonly ConditionalWeakTable<Conv2d, object> FloatGuarded = [];

    /// <summary>
    /// Under bfloat16 on the CPU, keeps the model's narrow convolutions (fewer than <see cref="NarrowOutputChannels"/>
    /// outputs, kernel wider than 1×1: the UNet's and the VAE's conv_out) in float32: their input is cast up and their
    /// output back to the caller's dtype. oneDNN's AVX-512 bf16 kernels computed these 25–38 % off on an AMD EPYC (Zen 5)
    /// while every wider SD v1 convolution was right (`sonic bench kernels`, docs/benchmarks.md); they cost under 0.5 % of
    /// the model's FLOPs. Returns how many convolutions were kept; call it after converting the model to <paramref name="dtype"/>.
    /// </summary>
    public static int KeepNarrowConvolutionsInFloat32(nn.Module model, ScalarType dtype, Device? device)
    {
        if (dtype != ScalarType.BFloat16 || (device is not null && device.type != DeviceType.CPU)) return 0;
        int kept = 0;
        foreach (var (_, module) in model.named_modules())
        {
            if (module is not Conv2d conv || conv.weight is not { } w || w.shape[0] >= NarrowOutputChannels || w.shape[2] * w.shape[3] == 1) continue;
            conv.to(ScalarType.Float32);
            kept++;
            lock (FloatGuarded)
            {
                if (FloatGuarded.TryGetValue(conv, out _)) continue;
                FloatGuarded.Add(conv, new object());
            }
            var caller = ScalarType.Float32;
            conv.register_forward_pre_hook((_, x) =>
            {
                caller = x.dtype;
                var own = conv.weight!.dtype;
                return x.dtype == own ? x : x.to(own);
            });
            conv.register_forward_hook((_, _, y) => y.dtype == caller ? y : y.to(caller));
        }
        return kept;
    }

    private static T? Call<T>(Func<T> f) where T : struct
    {
        try
        {
            _ = torch.get_num_threads(); // TorchSharp loads libtorch first, so the switch set here is the one its kernels read
            return f();
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
    }
}
