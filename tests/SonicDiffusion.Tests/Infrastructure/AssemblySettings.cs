// Tiny random models are initialised from libtorch's process-wide generator (torch.manual_seed); running test classes
// in parallel would interleave those draws and make the models, and so some assertions, depend on scheduling.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
