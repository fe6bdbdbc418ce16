// Tiny random models are initialised from libtorch's process-wide generator (torch.manual_seed); running test classes
// in parallel would interleave those draws and make the models, and so some assertions, depend on scheduling.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace SonicDiffusion.Tests.Infrastructure
{
    /// <summary>The tests run with the kernel switches every product entry point sets (<see cref="Core.CpuKernels.Configure"/>).</summary>
    internal static class AssemblyStart
    {
        [System.Runtime.CompilerServices.ModuleInitializer]
        internal static void ConfigureKernels() => Core.CpuKernels.Configure();
    }
}
