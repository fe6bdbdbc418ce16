using System.CommandLine;
using SonicDiffusion.Core;
using Spectre.Console;

namespace SonicDiffusion.Cli;

/// <summary>Runs the command line and turns every failure into one readable line (no stack dumps unless SONIC_DEBUG=1).</summary>
public static class CliRunner
{
    public static int Run(RootCommand root, string[] args)
    {
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
        CliContext.Cancellation = cts.Token;
        try
        {
            CpuKernels.Configure();
            return root.Parse(args).Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e)
        {
            return Report(e);
        }
    }

    public static int Report(Exception e)
    {
        var inner = e is AggregateException { InnerExceptions.Count: 1 } ag ? ag.InnerException! : e;
        if (Environment.GetEnvironmentVariable("SONIC_DEBUG") == "1") Console.Error.WriteLine(inner);
        switch (inner)
        {
            case OperationCanceledException:
                Console.Error.WriteLine("cancelled");
                return 130;
            case SonicException se:
                Console.Error.WriteLine("error: " + OneLine(se.Message));
                return 1;
            case FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or IOException:
                Console.Error.WriteLine("error: " + OneLine(inner.Message));
                return 1;
            default:
                Console.Error.WriteLine($"error: internal {inner.GetType().Name}: {OneLine(inner.Message)} (set SONIC_DEBUG=1 for details)");
                return 2;
        }
    }

    private static string OneLine(string s) => string.Join(" ", s.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
}

/// <summary>Process-wide CLI state.</summary>
public static class CliContext
{
    public static CancellationToken Cancellation { get; set; }
    public static bool Interactive => !Console.IsOutputRedirected && !Console.IsErrorRedirected && AnsiConsole.Profile.Capabilities.Interactive;
}
