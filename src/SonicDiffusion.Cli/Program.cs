using System.CommandLine;
using SonicDiffusion.Cli;
using SonicDiffusion.Cli.Commands;

var root = new RootCommand("sonic — SonicDiffusion.NET: audio-driven image generation and editing on Stable Diffusion v1");
root.Subcommands.Add(InfoCommand.Create());
root.Subcommands.Add(TextToImageCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
var data = new Command("data", "Datasets: generate and check");
data.Subcommands.Add(DataSynthCommand.Create());
root.Subcommands.Add(data);
return CliRunner.Run(root, args);
