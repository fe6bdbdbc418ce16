using SonicDiffusion.Pipelines;
using TorchSharp;
using Xunit;

namespace SonicDiffusion.Tests;

public class BranchWorkersTests
{
    [Fact]
    public void RunsEveryItemOnceSideBySideOnItsOwnThread()
    {
        using var workers = new BranchWorkers(3);
        var threads = new int[3];
        var counts = new int[3];
        using var barrier = new Barrier(3);
        for (int round = 0; round < 2; round++)
        {
            bool allMet = true;
            workers.Run(i =>
            {
                Interlocked.Increment(ref counts[i]);
                threads[i] = Environment.CurrentManagedThreadId;
                if (!barrier.SignalAndWait(TimeSpan.FromSeconds(20))) allMet = false;
            });
            Assert.True(allMet, "the three items must run at the same time");
        }
        Assert.Equal([2, 2, 2], counts);
        Assert.Equal(Environment.CurrentManagedThreadId, threads[0]);
        Assert.Equal(3, threads.Distinct().Count());
    }

    [Fact]
    public void AFailingItemFailsTheRunAndTheWorkersStayUsable()
    {
        using var workers = new BranchWorkers(2);
        var e = Assert.Throws<InvalidOperationException>(() => workers.Run(i => { if (i == 1) throw new InvalidOperationException("branch 1 broke"); }));
        Assert.Equal("branch 1 broke", e.Message);
        int ran = 0;
        workers.Run(_ => Interlocked.Increment(ref ran));
        Assert.Equal(2, ran);
        workers.Dispose();
        Assert.Throws<ObjectDisposedException>(() => workers.Run(_ => { }));
    }

    [Fact]
    public void IntraOpThreadsAreOneWhileWorkingAndRestoredAfter()
    {
        int before = torch.get_num_threads();
        var seen = new int[2];
        using (var workers = new BranchWorkers(2))
        {
            workers.Run(i => seen[i] = torch.get_num_threads());
            Assert.Equal(1, torch.get_num_threads());
        }
        Assert.Equal([1, 1], seen);
        Assert.Equal(before, torch.get_num_threads());
    }

    [Theory]
    [InlineData(2, 256, 2, 2)]
    [InlineData(3, 256, 2, 2)]
    [InlineData(3, 1024, 4, 3)]
    [InlineData(2, 4096, 2, 1)]
    [InlineData(1, 256, 2, 1)]
    [InlineData(2, 256, 1, 1)]
    public void SuggestSplitsOnlySmallLatentsOverSeveralThreads(int branches, long tokens, int threads, int expected) =>
        Assert.Equal(expected, BranchWorkers.Suggest(branches, tokens, threads));

    [Fact]
    public void ForSamplingHonoursARequestAndRefusesZero()
    {
        Assert.Null(BranchWorkers.ForSampling(1, 2, 64));
        Assert.Null(BranchWorkers.ForSampling(4, 1, 64));
        using (var two = BranchWorkers.ForSampling(4, 2, 1 << 20)) Assert.Equal(2, two!.Parallelism);
        Assert.Throws<ArgumentOutOfRangeException>(() => BranchWorkers.ForSampling(0, 2, 64));
        Assert.Null(BranchWorkers.ForSampling(null, 2, 64, onCpu: false));
    }
}
