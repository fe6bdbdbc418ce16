using System.Text.RegularExpressions;
using SonicDiffusion.Tests.Infrastructure;

namespace SonicDiffusion.Tests;

/// <summary>The scale-out recipes of docs/scale-out.md, and what an unsharded run gives to compare them with.</summary>
public static class ScaleOutRecipes
{
    public static string Doc => Path.Combine(RepoPaths.Root, "docs", "scale-out.md");

    /// <summary>The fenced code blocks of docs/scale-out.md in the given language.</summary>
    public static List<string> Blocks(string language) =>
        Regex.Matches(File.ReadAllText(Doc), "^```" + language + "\\n(.*?)^```", RegexOptions.Singleline | RegexOptions.Multiline).Select(m => m.Groups[1].Value).ToList();

    /// <summary>How a child process runs this build's CLI: "dotnet .../sonic.dll".</summary>
    public static string SonicCommand
    {
        get
        {
            string dotnet = Environment.ProcessPath is { } pp && Path.GetFileNameWithoutExtension(pp) == "dotnet" ? pp : "dotnet";
            return $"{dotnet} {Path.Combine(AppContext.BaseDirectory, "sonic.dll")}";
        }
    }

    public const string Steps = "2", Count = "5", Seed = "3";

    /// <summary>
    /// The unsharded run of the recipes' two commands into <paramref name="dir"/>/images and /eval, as a child process
    /// like the shards: the test process's kernel state is not a fresh process's (an earlier training test there turns
    /// oneDNN off for good), and under bf16 that alone changed a pixel.
    /// </summary>
    public static void RunUnsharded(string model, string data, string dir)
    {
        var (code, output, err) = SonicProcess("generate", "--model", model, "--data", data, "--out", Path.Combine(dir, "images"), "--steps", Steps, "--seed", Seed, "--threads", "1");
        Assert.True(code == 0, err + output);
        (code, output, err) = SonicProcess("eval", "--model", model, "--data", data, "--out", Path.Combine(dir, "eval"), "--steps", Steps, "--count", Count, "--seed", Seed,
            "--sweep-count", "0", "--threads", "1");
        Assert.True(code == 0, err + output);
    }

    /// <summary>This build's CLI in a child process; exit code, stdout and stderr.</summary>
    public static (int Code, string Out, string Err) SonicProcess(params string[] args) => SonicProcess(new Dictionary<string, string>(), args);

    /// <summary>As <see cref="SonicProcess(string[])"/>, with extra environment variables.</summary>
    public static (int Code, string Out, string Err) SonicProcess(IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        string dotnet = Environment.ProcessPath is { } pp && Path.GetFileNameWithoutExtension(pp) == "dotnet" ? pp : "dotnet";
        var psi = new System.Diagnostics.ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (k, v) in environment) psi.Environment[k] = v;
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sonic.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, output, err.Result);
    }

    /// <summary>Merges the shards in <paramref name="sharded"/>/eval and checks images and figures against the unsharded run in <paramref name="whole"/>.</summary>
    public static void AssertSameAsUnsharded(string sharded, string whole, int shards)
    {
        var (code, output, err) = CliTests.Sonic("eval", "merge", Path.Combine(sharded, "eval"));
        Assert.True(code == 0, err + output);
        Assert.Contains($"from {shards} shard(s)", output);
        ShardedJobTests.AssertMergedEqualsReport(Path.Combine(whole, "eval", "report.json"), Path.Combine(sharded, "eval", "merged.json"), 1e-6, 1e-5);
        ShardedJobTests.AssertSamePixels(Path.Combine(whole, "images"), Path.Combine(sharded, "images"));
    }
}

/// <summary>
/// A real Slurm: a single-node cluster on the loopback runs docs/scale-out.md's sbatch script as a 3-task array of
/// <c>sonic generate</c> + <c>sonic eval</c> on the tiny bundle; the merged result must equal the unsharded run.
/// Reported skipped, with the reason, where Slurm is not installed or its daemons cannot start.
/// </summary>
[Collection("Console")]
public class SlurmArrayTests(ShardedJobFixture f) : IClassFixture<ShardedJobFixture>
{
    [SkippableFact]
    public void SbatchArrayOfTheDocumentedScriptMatchesTheUnshardedRun()
    {
        using var slurm = LocalSlurm.TryStart(out string reason);
        Skip.If(slurm is null, reason);
        var script = Assert.Single(ScaleOutRecipes.Blocks("bash"), b => b.Contains("#SBATCH"));
        using var tmp = new TempDir();
        string scriptPath = tmp.File("sonic-array.sh");
        File.WriteAllText(scriptPath, script);
        string data = f.RecipeManifest;
        var env = new Dictionary<string, string>
        {
            ["SONIC"] = ScaleOutRecipes.SonicCommand, ["MODEL"] = f.Bundle, ["DATA"] = data, ["OUT"] = tmp.File("run"),
            ["STEPS"] = ScaleOutRecipes.Steps, ["COUNT"] = ScaleOutRecipes.Count, ["SEED"] = ScaleOutRecipes.Seed, ["OMP_NUM_THREADS"] = "1",
        };
        var (code, output, err) = slurm!.Slurm("sbatch", ["--wait", "--chdir", tmp.Path, scriptPath], TimeSpan.FromMinutes(4), env, tmp.Path);
        var logs = Directory.GetFiles(tmp.Path, "slurm-*.out").Order(StringComparer.Ordinal).ToList();
        string all = string.Join("\n", logs.Select(l => $"--- {Path.GetFileName(l)}\n{File.ReadAllText(l)}"));
        Assert.True(code == 0, $"sbatch --wait exited {code}: {output} {err}\n{all}");
        Assert.Equal(3, logs.Count);
        for (int i = 0; i < 3; i++) Assert.Contains($"shard {i}/3 (SLURM_ARRAY_TASK_ID={i}, SLURM_ARRAY_TASK_MIN=0, SLURM_ARRAY_TASK_MAX=2", all);

        ScaleOutRecipes.AssertSameAsUnsharded(tmp.File("run"), f.Unsharded, 3);
    }
}
