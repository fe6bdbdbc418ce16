using System.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Core;

/// <summary>
/// One random stream per purpose: the seed of a stream is a hash of (run seed, purpose name) alone, so a seeded result
/// (model initialisation, data order, noise, a generated image) never depends on what else drew random numbers before it
/// in the process (building a cache, loading another model, another shard's items).
/// </summary>
public static class RandomStreams
{
    /// <summary>The 64-bit seed of the stream <paramref name="purpose"/> of run seed <paramref name="seed"/> (SplitMix64 of the seed and the purpose's FNV-1a hash).</summary>
    public static ulong Derive(long seed, string purpose)
    {
        ulong h = 0xCBF29CE484222325UL;
        foreach (byte b in Encoding.UTF8.GetBytes(purpose)) h = (h ^ b) * 0x100000001B3UL;
        return Mix(Mix((ulong)seed + 0x9E3779B97F4A7C15UL) ^ h);
    }

    /// <summary>A CPU generator for the stream <paramref name="purpose"/>.</summary>
    public static Generator Create(long seed, string purpose) => new(Derive(seed, purpose), torch.CPU);

    /// <summary>
    /// Seeds torch's global generator with the stream <paramref name="purpose"/> until disposed, then restores its former
    /// state. Module constructors draw their initial weights from the global generator; constructing them inside this
    /// scope makes the weights a function of (seed, purpose) only.
    /// </summary>
    public static IDisposable InitScope(long seed, string purpose)
    {
        var saved = torch.random.get_rng_state();
        torch.random.manual_seed(unchecked((long)Derive(seed, purpose)));
        return new Restore(saved);
    }

    private sealed class Restore(Tensor state) : IDisposable
    {
        private bool _done;

        public void Dispose()
        {
            if (_done) return;
            _done = true;
            torch.random.set_rng_state(state);
            state.Dispose();
        }
    }

    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
