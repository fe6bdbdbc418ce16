using SonicDiffusion.Core;

namespace SonicDiffusion.Training;

/// <summary>
/// Deterministic, resumable order of dataset indices: each epoch is a fresh permutation drawn from (seed, epoch)
/// alone (SplitMix64 + Fisher–Yates), so the whole state is (epoch, position) and resuming needs no RNG state.
/// With drop_last the incomplete tail of an epoch is skipped; otherwise the last batch of an epoch is smaller.
/// </summary>
public sealed class DataOrder
{
    private long[] _perm;

    public long DatasetSize { get; }
    public int BatchSize { get; }
    public long Seed { get; }
    public bool DropLast { get; }
    /// <summary>Current epoch (0-based).</summary>
    public long Epoch { get; private set; }
    /// <summary>Index into the current epoch's permutation of the next sample to hand out.</summary>
    public long Position { get; private set; }

    public DataOrder(long datasetSize, int batchSize, long seed, bool dropLast = true)
    {
        if (datasetSize <= 0) throw new SonicException($"data order: dataset size {datasetSize} must be > 0");
        if (batchSize <= 0) throw new SonicException($"data order: batch_size {batchSize} must be > 0");
        if (dropLast && batchSize > datasetSize)
            throw new SonicException($"data order: batch_size {batchSize} is larger than the dataset ({datasetSize} samples) and drop_last is on");
        DatasetSize = datasetSize;
        BatchSize = batchSize;
        Seed = seed;
        DropLast = dropLast;
        _perm = Permutation(datasetSize, seed, 0);
    }

    public long BatchesPerEpoch => DropLast ? DatasetSize / BatchSize : (DatasetSize + BatchSize - 1) / BatchSize;

    /// <summary>The dataset indices of the next batch; moves on to the next epoch's permutation when this one is used up.</summary>
    public long[] Next()
    {
        long left = DatasetSize - Position;
        if (left == 0 || (DropLast && left < BatchSize))
        {
            Epoch++;
            Position = 0;
            _perm = Permutation(DatasetSize, Seed, Epoch);
            left = DatasetSize;
        }
        int n = (int)Math.Min(BatchSize, left);
        var batch = new long[n];
        Array.Copy(_perm, Position, batch, 0, n);
        Position += n;
        return batch;
    }

    /// <summary>Continues from a saved (epoch, position).</summary>
    public void Restore(long epoch, long position)
    {
        if (epoch < 0 || position < 0 || position > DatasetSize)
            throw new SonicException($"data order: cannot restore epoch {epoch} position {position} for a dataset of {DatasetSize} samples");
        if (epoch != Epoch) _perm = Permutation(DatasetSize, Seed, epoch);
        Epoch = epoch;
        Position = position;
    }

    /// <summary>The permutation of 0..size-1 used for <paramref name="epoch"/>.</summary>
    public static long[] Permutation(long size, long seed, long epoch)
    {
        var p = new long[size];
        for (long i = 0; i < size; i++) p[i] = i;
        ulong state = Mix((ulong)seed ^ Mix((ulong)epoch + 0x632BE59BD9B4E019UL));
        for (long i = size - 1; i > 0; i--)
        {
            long j = (long)Below(ref state, (ulong)(i + 1));
            (p[i], p[j]) = (p[j], p[i]);
        }
        return p;
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong NextU64(ref ulong state)
    {
        state += 0x9E3779B97F4A7C15UL;
        return Mix(state);
    }

    /// <summary>Uniform integer in [0, bound) without modulo bias (Lemire's multiply-and-reject).</summary>
    private static ulong Below(ref ulong state, ulong bound)
    {
        ulong hi = Math.BigMul(NextU64(ref state), bound, out ulong lo);
        if (lo < bound)
        {
            ulong threshold = (0 - bound) % bound;
            while (lo < threshold) hi = Math.BigMul(NextU64(ref state), bound, out lo);
        }
        return hi;
    }
}
