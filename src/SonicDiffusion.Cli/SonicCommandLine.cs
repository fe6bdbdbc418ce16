using System.CommandLine;
using SonicDiffusion.Cli.Commands;

namespace SonicDiffusion.Cli;

/// <summary>The `sonic` command tree.</summary>
public static class SonicCommandLine
{
    public static RootCommand Create()
    {
        var root = new RootCommand("sonic — SonicDiffusion.NET: audio-driven image generation and editing on Stable Diffusion v1");
        root.Subcommands.Add(InfoCommand.Create());
        root.Subcommands.Add(TextToImageCommand.Create());
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(EditCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        var data = new Command("data", "Datasets: generate, import, check and preprocess");
        data.Subcommands.Add(DataSynthCommand.Create());
        data.Subcommands.Add(DataSoundsCommand.Create());
        data.Subcommands.Add(DataImportCommand.Create());
        data.Subcommands.Add(DataCheckCommand.Create());
        data.Subcommands.Add(DataCacheCommand.Create());
        root.Subcommands.Add(data);
        root.Subcommands.Add(TrainCommand.Create());
        var eval = EvalCommand.Create();
        eval.Subcommands.Add(EvalEditCommand.Create());
        eval.Subcommands.Add(EvalPaperCommand.CreateRefs());
        root.Subcommands.Add(eval);
        return root;
    }

    /// <summary>Parses and runs; every failure becomes one line on stderr and a non-zero exit code.</summary>
    public static int Run(string[] args) => CliRunner.Run(Create(), args);
}
