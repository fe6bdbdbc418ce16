using System.CommandLine;
using SonicDiffusion.Core;

namespace SonicDiffusion.Cli.Commands;

public static class InfoCommand
{
    public static Command Create()
    {
        var cmd = new Command("info", "Print the runtime: TorchSharp and libtorch versions, threads, CUDA availability");
        cmd.SetAction(_ =>
        {
            Console.WriteLine(TorchRuntime.Describe());
            Console.WriteLine($"cuda available: {TorchSharp.torch.cuda.is_available()}");
            return 0;
        });
        return cmd;
    }
}
