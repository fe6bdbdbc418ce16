using SonicDiffusion.Training;

namespace SonicDiffusion.Tests.Infrastructure;

/// <summary>
/// Entry point of the test assembly (the generated one is switched off in the csproj) so tests can start it as a
/// child process: <c>dotnet SonicDiffusion.Tests.dll trainer-child RUN_DIR TOTAL_STEPS CHECKPOINT_EVERY</c> trains
/// <see cref="TinyTrainingTask"/> in RUN_DIR; a test then kills it with SIGKILL at an arbitrary moment.
/// </summary>
public static class TestProgram
{
    public static int Main(string[] args)
    {
        if (args.Length == 4 && args[0] == "trainer-child")
        {
            using var task = new TinyTrainingTask();
            var config = TinyTrainingTask.DefaultConfig(long.Parse(args[2])) with { CheckpointEvery = long.Parse(args[3]), KeepLast = 2 };
            using var trainer = new Trainer(task, config, args[1]);
            trainer.Run();
            return 0;
        }
        Console.Error.WriteLine("usage: SonicDiffusion.Tests.dll trainer-child RUN_DIR TOTAL_STEPS CHECKPOINT_EVERY");
        return 2;
    }
}
