using System.Globalization;
using System.Runtime.InteropServices;

namespace SonicDiffusion.Diagnostics;

/// <summary>Resident memory of this process (Linux /proc), its peak, and evicting a file from the page cache.</summary>
public static partial class ProcessMemory
{
    /// <summary>Current resident set size in bytes (VmRSS), or null where /proc is not available.</summary>
    public static long? ResidentBytes() => StatusField("VmRSS:");

    /// <summary>Peak resident set size in bytes since start or the last <see cref="ResetPeak"/> (VmHWM).</summary>
    public static long? PeakResidentBytes() => StatusField("VmHWM:");

    /// <summary>Restarts the peak (VmHWM) from the current RSS; false where the kernel does not allow it.</summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>Asks the kernel to drop the file's cached pages (posix_fadvise DONTNEED), for cold-cache timings; false when it cannot.</summary>
    public static bool EvictFromPageCache(string path)
    {
        if (!OperatingSystem.IsLinux()) return false;
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        return posix_fadvise(fs.SafeFileHandle.DangerousGetHandle().ToInt32(), 0, 0, PosixFadvDontNeed) == 0;
    }

    /// <summary>
    /// Returns the C heap's free memory to the operating system (glibc malloc_trim), so memory freed by one phase (the
    /// UNet's many mid-size activations) is not still resident when the next one (the VAE decode's large ones) starts.
    /// </summary>
    public static void ReleaseFreeHeap()
    {
        if (!OperatingSystem.IsLinux()) return;
        try { malloc_trim(0); }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int malloc_trim(nuint pad);

    private const int PosixFadvDontNeed = 4;

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int posix_fadvise(int fd, long offset, long len, int advice);

    private static long? StatusField(string field)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (!line.StartsWith(field, StringComparison.Ordinal)) continue;
                var parts = line[field.Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(parts[0], CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (IOException) { }
        return null;
    }
}
