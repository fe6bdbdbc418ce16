using System.CommandLine;
using SonicDiffusion.Cli;
using SonicDiffusion.Cli.Commands;

var root = new RootCommand("sonic — SonicDiffusion.NET: audio-driven image generation and editing on Stable Diffusion v1");
root.Subcommands.Add(InfoCommand.Create());
root.Subcommands.Add(TextToImageCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
return CliRunner.Run(root, args);
