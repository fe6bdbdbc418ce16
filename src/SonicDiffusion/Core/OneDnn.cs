using System.Runtime.InteropServices;
using TorchSharp;

namespace SonicDiffusion.Core;

/// <summary>
/// libtorch's switch for its oneDNN (mkldnn) CPU kernels, <c>at::globalContext().userEnabledMkldnn()</c>, which
/// TorchSharp does not expose. Off, convolutions run on ATen's own im2col + GEMM kernels.
/// <para>Why it exists: on an AMD EPYC (Zen 5, AVX-512) the oneDNN convolution backward pass returned wrong and
/// sometimes NaN input gradients for narrow outputs (e.g. 32 → 4 channels, 3×3, 16×16; errors up to 1.0 and NaN in
/// 15 of 100 calls, with 1 or 2 threads and with oneDNN limited to AVX2) while its forward pass stayed exact, so
/// <see cref="Training.Trainer"/> turns oneDNN off while it trains (docs/benchmarks.md).</para>
/// </summary>
public static partial class OneDnn
{
    private const string Library = "libtorch_cpu";

    [LibraryImport(Library, EntryPoint = "_ZN2at13globalContextEv")]
    private static partial IntPtr GlobalContext();

    [LibraryImport(Library, EntryPoint = "_ZNK2at7Context17userEnabledMkldnnEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static partial bool UserEnabledMkldnn(IntPtr context);

    [LibraryImport(Library, EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static partial void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    /// <summary>Whether libtorch may use oneDNN kernels; null when the switch cannot be reached in this libtorch build.</summary>
    public static bool? Enabled
    {
        get
        {
            try
            {
                EnsureTorchLoaded();
                return UserEnabledMkldnn(GlobalContext());
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
        }
    }

    /// <summary>Sets the switch; returns false (and changes nothing) when this libtorch build does not export it.</summary>
    public static bool TrySet(bool enabled)
    {
        try
        {
            EnsureTorchLoaded();
            SetUserEnabledMkldnn(GlobalContext(), enabled);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return false; }
    }

    private static readonly Lock Gate = new();
    private static int _offHolders;
    private static bool _restore;

    /// <summary>
    /// Turns oneDNN off until the returned handle is disposed; nested and concurrent holders share one switch, and the
    /// last one out restores what was there before the first.
    /// </summary>
    public static IDisposable Off()
    {
        lock (Gate)
        {
            if (_offHolders++ == 0)
            {
                _restore = Enabled == true;
                if (_restore) TrySet(false);
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
                if (--_offHolders == 0 && _restore) TrySet(true);
        }
    }

    /// <summary>TorchSharp loads libtorch first, so the switch set here is the one its kernels read.</summary>
    private static void EnsureTorchLoaded() => _ = torch.get_num_threads();
}
