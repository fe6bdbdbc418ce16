using System.Globalization;
using SonicDiffusion.Core;

namespace SonicDiffusion.Sharding;

/// <summary>
/// Which part of a batch job this process does: shard <see cref="Index"/> of <see cref="Count"/> (0-based). Item k
/// belongs to shard k mod N, so what a shard does depends only on (k, N), never on the other shards. <see cref="Source"/>
/// says where the numbers came from (--shard, a Slurm job array, a Kubernetes Indexed Job, or none).
/// </summary>
public sealed record ShardSpec(int Index, int Count, string Source)
{
    public static readonly ShardSpec Whole = new(0, 1, "unsharded");

    public const string SlurmTaskId = "SLURM_ARRAY_TASK_ID";
    public const string SlurmTaskMin = "SLURM_ARRAY_TASK_MIN";
    public const string SlurmTaskMax = "SLURM_ARRAY_TASK_MAX";
    public const string SlurmTaskCount = "SLURM_ARRAY_TASK_COUNT";
    public const string KubernetesIndex = "JOB_COMPLETION_INDEX";

    public bool IsSharded => Count > 1;

    /// <summary>"I-of-N", used in per-shard file names.</summary>
    public string Tag => string.Create(CultureInfo.InvariantCulture, $"{Index}-of-{Count}");

    public bool Owns(long item) => item % Count == Index;

    /// <summary>The items 0..total-1 of this shard, in order.</summary>
    public IEnumerable<int> Items(int total)
    {
        for (int k = Index; k < total; k += Count) yield return k;
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"shard {Index}/{Count} ({Source})");

    /// <summary>Parses <c>I/N</c> (0 ≤ I &lt; N).</summary>
    public static ShardSpec Parse(string text, string source = "--shard")
    {
        var parts = text.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int i)
            || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n))
            throw new SonicException($"--shard {text}: expected I/N, e.g. 0/4 (shard I of N, I counted from 0)");
        return Checked(i, n, $"--shard {text}", source);
    }

    private static ShardSpec Checked(int index, int count, string what, string source)
    {
        if (count < 1) throw new SonicException($"{what}: the shard count must be at least 1");
        if (index < 0 || index >= count) throw new SonicException($"{what}: shard index {index} is out of range 0..{count - 1}");
        return new ShardSpec(index, count, source);
    }

    /// <summary>The process environment as a lookup.</summary>
    public static Func<string, string?> ProcessEnvironment => Environment.GetEnvironmentVariable;

    /// <summary>
    /// The shard of this process: <paramref name="shard"/> (--shard I/N) if given; else a Slurm job array's
    /// SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_MIN/MAX or SLURM_ARRAY_TASK_COUNT; else a Kubernetes Indexed Job's
    /// JOB_COMPLETION_INDEX with <paramref name="shards"/> (--shards N; the Job controller gives the index, not the count);
    /// else the whole job. Values that contradict each other are refused with the values named.
    /// </summary>
    public static ShardSpec Resolve(string? shard, int? shards, Func<string, string?> env)
    {
        if (shards is < 1) throw new SonicException($"--shards {shards}: must be at least 1");
        string? slurmId = Env(env, SlurmTaskId), k8sIndex = Env(env, KubernetesIndex);
        if (shard is not null)
        {
            var s = Parse(shard);
            if (shards is { } n && n != s.Count) throw new SonicException($"--shard {shard} and --shards {n} disagree");
            return s;
        }
        if (slurmId is not null && k8sIndex is not null)
            throw new SonicException($"{SlurmTaskId}={slurmId} and {KubernetesIndex}={k8sIndex} are both set: give --shard I/N to say which applies");
        if (slurmId is not null) return FromSlurm(slurmId, shards, env);
        if (k8sIndex is not null)
        {
            int i = Integer(KubernetesIndex, k8sIndex);
            if (shards is not { } n)
                throw new SonicException($"{KubernetesIndex}={k8sIndex} is set but not the shard count: give --shards N (the Job's completions)");
            return Checked(i, n, $"{KubernetesIndex}={k8sIndex} with --shards {n}", $"{KubernetesIndex}={k8sIndex}, --shards {n}");
        }
        if (shards is { } only && only > 1)
            throw new SonicException($"--shards {only}: no shard index (give --shard I/{only}, or run as a Slurm array task or a Kubernetes Indexed Job)");
        return Whole;
    }

    private static ShardSpec FromSlurm(string idText, int? shards, Func<string, string?> env)
    {
        int id = Integer(SlurmTaskId, idText);
        string? minText = Env(env, SlurmTaskMin), maxText = Env(env, SlurmTaskMax), countText = Env(env, SlurmTaskCount);
        int? min = minText is null ? null : Integer(SlurmTaskMin, minText);
        int? max = maxText is null ? null : Integer(SlurmTaskMax, maxText);
        int? count = countText is null ? null : Integer(SlurmTaskCount, countText);
        if (min is null && count is null)
            throw new SonicException($"{SlurmTaskId}={idText} is set without {SlurmTaskMin}/{SlurmTaskMax} or {SlurmTaskCount}: give --shard I/N");
        int first = min ?? 0;
        int? span = min is not null && max is not null ? max - min + 1 : null;
        if (span is not null && count is not null && span != count)
            throw new SonicException($"{SlurmTaskMin}={minText}, {SlurmTaskMax}={maxText} and {SlurmTaskCount}={countText} disagree (an array with a step or gaps): give --shard I/N");
        int n = count ?? span ?? throw new SonicException($"{SlurmTaskMin}={minText} without {SlurmTaskMax} or {SlurmTaskCount}: give --shard I/N");
        if (shards is { } given && given != n)
            throw new SonicException($"--shards {given} disagrees with the Slurm array's {n} tasks ({SlurmTaskId}={idText})");
        string source = $"{SlurmTaskId}={idText}" + (min is null ? "" : $", {SlurmTaskMin}={minText}") + (max is null ? "" : $", {SlurmTaskMax}={maxText}")
            + (count is null ? "" : $", {SlurmTaskCount}={countText}");
        return Checked(id - first, n, source, source);
    }

    private static string? Env(Func<string, string?> env, string name) => env(name) is { Length: > 0 } v ? v.Trim() : null;

    private static int Integer(string name, string value) =>
        int.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int v)
            ? v : throw new SonicException($"{name}={value}: not an integer");
}
