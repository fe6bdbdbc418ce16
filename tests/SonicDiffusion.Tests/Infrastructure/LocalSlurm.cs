using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace SonicDiffusion.Tests.Infrastructure;

/// <summary>
/// A single-node Slurm cluster on the loopback for one test: munged, slurmctld and slurmd (Debian's slurm-wlm and munge
/// packages; .ci/run installs them) with a key, sockets, state and a slurm.conf in a temporary folder and free ports.
/// <see cref="TryStart"/> returns null with the reason when the binaries are missing or the daemons do not come up.
/// Dispose stops the daemons it started (by their pid files) and deletes the folder.
/// </summary>
public sealed class LocalSlurm : IDisposable
{
    private static readonly string[] Binaries = ["/usr/sbin/munged", "/usr/sbin/slurmctld", "/usr/sbin/slurmd", "/usr/bin/sbatch", "/usr/bin/sinfo", "/usr/bin/scontrol"];
    public const string NodeName = "sonic1";

    private readonly TempDir _dir;

    public string ConfigPath { get; }
    public string Folder => _dir.Path;

    private LocalSlurm(TempDir dir)
    {
        _dir = dir;
        ConfigPath = dir.File("slurm.conf");
    }

    public static LocalSlurm? TryStart(out string reason)
    {
        if (OperatingSystem.IsWindows())
        {
            reason = "Slurm runs on Linux only";
            return null;
        }
        var missing = Binaries.Where(b => !File.Exists(b)).ToList();
        if (missing.Count > 0)
        {
            reason = $"{string.Join(", ", missing)} not found: install Debian's slurm-wlm and munge packages (.ci/run does)";
            return null;
        }
        var slurm = new LocalSlurm(new TempDir());
        try
        {
            reason = slurm.Start();
            if (reason.Length == 0) return slurm;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception or SocketException)
        {
            reason = $"local Slurm could not start: {e.Message}";
        }
        slurm.Dispose();
        return null;
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private string Start()
    {
        string d = Folder;
        foreach (var sub in new[] { "munge", "state", "spool", "log" }) Directory.CreateDirectory(Path.Combine(d, sub));
        File.SetUnixFileMode(Path.Combine(d, "munge"), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        string key = Path.Combine(d, "munge", "munge.key");
        File.WriteAllBytes(key, System.Security.Cryptography.RandomNumberGenerator.GetBytes(1024));
        File.SetUnixFileMode(key, UnixFileMode.UserRead);
        string socket = Path.Combine(d, "munge", "munge.sock");
        var (code, _, err) = Run("/usr/sbin/munged", [$"--key-file={key}", $"--socket={socket}", $"--pid-file={d}/munge/munged.pid",
            $"--log-file={d}/munge/munged.log", $"--seed-file={d}/munge/seed", "--force"], TimeSpan.FromSeconds(20));
        if (code != 0) return $"munged could not start (exit {code}): {FirstLine(err)}";

        int ctldPort = FreePort(), slurmdPort = FreePort();
        string user = Environment.UserName;
        File.WriteAllText(ConfigPath, $"""
            ClusterName=sonictest
            SlurmctldHost=localhost(127.0.0.1)
            SlurmctldPort={ctldPort}
            SlurmdPort={slurmdPort}
            SlurmUser={user}
            AuthType=auth/munge
            CredType=cred/munge
            AuthInfo=socket={socket}
            StateSaveLocation={d}/state
            SlurmdSpoolDir={d}/spool
            SlurmctldPidFile={d}/slurmctld.pid
            SlurmdPidFile={d}/slurmd.pid
            SlurmctldLogFile={d}/log/slurmctld.log
            SlurmdLogFile={d}/log/slurmd.log
            ProctrackType=proctrack/linuxproc
            TaskPlugin=task/none
            SelectType=select/cons_tres
            SelectTypeParameters=CR_CPU
            SchedulerType=sched/builtin
            MpiDefault=none
            ReturnToService=2
            JobCompType=jobcomp/none
            AccountingStorageType=accounting_storage/none
            JobAcctGatherType=jobacct_gather/none
            NodeName={NodeName} NodeHostname={Dns.GetHostName()} NodeAddr=127.0.0.1 CPUs={Math.Max(2, Environment.ProcessorCount)} State=UNKNOWN
            PartitionName=test Nodes={NodeName} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES

            """);
        (code, _, err) = Run("/usr/sbin/slurmctld", ["-f", ConfigPath], TimeSpan.FromSeconds(30));
        if (code != 0) return $"slurmctld could not start (exit {code}): {FirstLine(err)} {LogTail("slurmctld.log")}";
        (code, _, err) = Run("/usr/sbin/slurmd", ["-f", ConfigPath, "-N", NodeName], TimeSpan.FromSeconds(30));
        if (code != 0) return $"slurmd could not start (exit {code}): {FirstLine(err)} {LogTail("slurmd.log")}";
        var clock = Stopwatch.StartNew();
        string state = "";
        while (clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            (code, state, _) = Slurm("sinfo", ["-h", "-o", "%t"], TimeSpan.FromSeconds(10));
            if (code == 0 && state.Trim() is "idle" or "mix" or "alloc") return "";
            Thread.Sleep(500);
        }
        return $"the local Slurm node did not become idle in 30 s (state '{state.Trim()}'): {LogTail("slurmctld.log")} {LogTail("slurmd.log")}";
    }

    private string LogTail(string name)
    {
        string p = Path.Combine(Folder, "log", name);
        return File.Exists(p) ? $"[{name}: {string.Join(" | ", File.ReadLines(p).TakeLast(3))}]" : "";
    }

    private static string FirstLine(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "";

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>A Slurm client command (sbatch, squeue, ...) against this cluster.</summary>
    public (int Code, string Out, string Err) Slurm(string command, IEnumerable<string> args, TimeSpan timeout, IReadOnlyDictionary<string, string>? env = null, string? workingDirectory = null) =>
        Run("/usr/bin/" + command, args, timeout, new Dictionary<string, string>(env ?? new Dictionary<string, string>()) { ["SLURM_CONF"] = ConfigPath }, workingDirectory);

    public static (int Code, string Out, string Err) Run(string file, IEnumerable<string> args, TimeSpan timeout, IReadOnlyDictionary<string, string>? env = null, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (workingDirectory != null) psi.WorkingDirectory = workingDirectory;
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env != null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit();
            return (124, stdout.Result, stderr.Result + $"\n{file} did not finish in {timeout.TotalSeconds:0} s");
        }
        p.WaitForExit();
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    public void Dispose()
    {
        if (File.Exists(ConfigPath)) Slurm("scontrol", ["shutdown"], TimeSpan.FromSeconds(15));
        foreach (var pidFile in new[] { "slurmd.pid", "slurmctld.pid", "munge/munged.pid" })
        {
            string path = Path.Combine(Folder, pidFile);
            if (!File.Exists(path) || !int.TryParse(File.ReadAllText(path).Trim(), out int pid)) continue;
            try
            {
                using var proc = Process.GetProcessById(pid);
                if (!proc.WaitForExit(TimeSpan.FromSeconds(5))) { proc.Kill(); proc.WaitForExit(TimeSpan.FromSeconds(5)); }
            }
            catch (ArgumentException) { }                // already gone
            catch (InvalidOperationException) { }
        }
        _dir.Dispose();
    }
}
