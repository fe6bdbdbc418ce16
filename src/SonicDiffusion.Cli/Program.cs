using SonicDiffusion.Core;
Console.WriteLine(TorchRuntime.Describe());
