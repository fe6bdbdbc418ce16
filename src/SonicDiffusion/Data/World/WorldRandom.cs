namespace SonicDiffusion.Data.World;

/// <summary>
/// Small, portable, seedable generator (xoshiro256**, seeded through SplitMix64) so that the synthetic world is
/// byte-identical across runtimes and thread schedules. Streams are derived by hashing (seed, index, stream salt).
/// </summary>
public sealed class WorldRandom
{
    private ulong _s0, _s1, _s2, _s3;

    public WorldRandom(ulong seed)
    {
        ulong x = seed;
        _s0 = SplitMix(ref x);
        _s1 = SplitMix(ref x);
        _s2 = SplitMix(ref x);
        _s3 = SplitMix(ref x);
    }

    /// <summary>An independent stream for (seed, index, salt); the same triple always gives the same stream.</summary>
    public static WorldRandom Derive(ulong seed, long index, ulong salt) => new(Hash(seed, (ulong)index, salt));

    public static ulong Hash(ulong a, ulong b, ulong c) => Mix(Mix(Mix(a ^ 0x9E3779B97F4A7C15UL) + b) ^ (c * 0xD6E8FEB86659FD93UL));

    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static ulong SplitMix(ref ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        return Mix(x);
    }

    public ulong NextULong()
    {
        ulong result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        ulong t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1).</summary>
    public double NextDouble() => (NextULong() >> 11) * (1.0 / (1UL << 53));

    public double Uniform(double lo, double hi) => lo + (hi - lo) * NextDouble();

    public float UniformF(double lo, double hi) => (float)Uniform(lo, hi);

    /// <summary>Uniform integer in [0, n).</summary>
    public int Next(int n) => n <= 0 ? throw new ArgumentOutOfRangeException(nameof(n)) : (int)((NextULong() >> 33) % (ulong)n);

    /// <summary>Uniform integer in [lo, hi] (inclusive).</summary>
    public int Range(int lo, int hi) => lo + Next(hi - lo + 1);

    public bool Chance(double p) => NextDouble() < p;

    /// <summary>Uniform noise in [-1, 1).</summary>
    public double Signed() => NextDouble() * 2 - 1;

    public double Normal()
    {
        double u1 = 1.0 - NextDouble();
        double u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Exponentially distributed waiting time for a Poisson process of the given rate (events per unit).</summary>
    public double Exponential(double rate) => -Math.Log(1.0 - NextDouble()) / rate;

    /// <summary>Pareto-distributed value >= 1 with tail exponent <paramref name="alpha"/> (heavy-tailed sizes: few big, many small).</summary>
    public double Pareto(double alpha) => Math.Pow(1.0 - NextDouble(), -1 / alpha);

    public T Pick<T>(IReadOnlyList<T> items) => items[Next(items.Count)];

    /// <summary>Picks an index with probability proportional to its weight.</summary>
    public int PickWeighted(ReadOnlySpan<double> weights)
    {
        double total = 0;
        foreach (var w in weights) total += w;
        double r = NextDouble() * total;
        for (int i = 0; i < weights.Length; i++)
        {
            r -= weights[i];
            if (r < 0) return i;
        }
        return weights.Length - 1;
    }

    public void Shuffle<T>(T[] items)
    {
        for (int i = items.Length - 1; i > 0; i--)
        {
            int j = Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
