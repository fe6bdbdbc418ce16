using System.CommandLine;
using SonicDiffusion.Sharding;

namespace SonicDiffusion.Cli;

/// <summary>
/// <c>--shard I/N</c> and <c>--shards N</c> of the commands that split their rows over array-job tasks; without them the
/// shard comes from Slurm's or Kubernetes' environment variables (<see cref="ShardSpec.Resolve"/>).
/// </summary>
public sealed class ShardOptions
{
    public readonly Option<string?> Shard = new("--shard") { Description = "Do only shard I of N (I counted from 0): the rows k with k mod N = I. Default: from SLURM_ARRAY_TASK_ID (Slurm job array) or JOB_COMPLETION_INDEX (Kubernetes Indexed Job, with --shards)" };
    public readonly Option<int?> Shards = new("--shards") { Description = "Shard count N for a Kubernetes Indexed Job (JOB_COMPLETION_INDEX gives only the index; use the Job's completions)" };

    public void AddTo(Command cmd)
    {
        cmd.Options.Add(Shard);
        cmd.Options.Add(Shards);
    }

    /// <summary>The shard of this process; says which one and where it came from when the job is sharded.</summary>
    public ShardSpec Resolve(ParseResult pr)
    {
        var spec = ShardSpec.Resolve(pr.GetValue(Shard), pr.GetValue(Shards), ShardSpec.ProcessEnvironment);
        if (spec != ShardSpec.Whole) Console.WriteLine($"{spec}");
        return spec;
    }
}
