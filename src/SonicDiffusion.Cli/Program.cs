return SonicDiffusion.Cli.SonicCommandLine.Run(args);
