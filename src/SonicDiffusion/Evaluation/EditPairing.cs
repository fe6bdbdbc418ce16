using SonicDiffusion.Core;
using SonicDiffusion.Data.World;

namespace SonicDiffusion.Evaluation;

/// <summary>
/// Deterministic choice of the sounds that edit each scene in <c>sonic eval edit</c>: every scene gets up to
/// <c>perScene</c> sounds of distinct classes, none of its own class. Target classes cycle over the other classes from a
/// seed-derived offset (scene k starts k · perScene further on), so targets stay balanced over the scenes; within a
/// class the sounds are used in turn from a seed-derived start, so each is used about equally often. Portable: the
/// same inputs and seed give the same pairs on every runtime (<see cref="WorldRandom"/> hashing).
/// </summary>
public static class EditPairing
{
    private const ulong Salt = 0xED17;

    /// <summary>
    /// For each scene (by class id), the indices of its sounds in <paramref name="soundClasses"/>. Throws when a scene
    /// has no sound of another class.
    /// </summary>
    public static int[][] Pair(IReadOnlyList<int> sceneClasses, IReadOnlyList<int> soundClasses, int perScene, long seed)
    {
        if (perScene < 1) throw new SonicException($"--sounds {perScene}: must be at least 1");
        var byClass = Enumerable.Range(0, soundClasses.Count).GroupBy(i => soundClasses[i]).OrderBy(g => g.Key)
            .ToDictionary(g => g.Key, g => g.ToArray());
        var classes = byClass.Keys.ToArray();
        ulong s = (ulong)seed;
        int offset = (int)(WorldRandom.Hash(s, 0, Salt) % (ulong)Math.Max(1, classes.Length));
        var next = classes.ToDictionary(c => c, c => (int)(WorldRandom.Hash(s, (ulong)c + 1, Salt) % (ulong)byClass[c].Length));
        var pairs = new int[sceneClasses.Count][];
        for (int k = 0; k < sceneClasses.Count; k++)
        {
            int own = sceneClasses[k];
            var targets = classes.Where(c => c != own).ToArray();
            if (targets.Length == 0)
                throw new SonicException($"scene {k} (class {own}): there are no sounds of another class to edit it with");
            int n = Math.Min(perScene, targets.Length);
            pairs[k] = new int[n];
            for (int j = 0; j < n; j++)
            {
                int c = targets[(int)(((long)k * perScene + j + offset) % targets.Length)];
                var list = byClass[c];
                pairs[k][j] = list[next[c] % list.Length];
                next[c]++;
            }
        }
        return pairs;
    }
}
