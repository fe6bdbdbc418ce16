using System.Runtime.InteropServices;
using System.Security.Cryptography;
using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Data.World;
using SonicDiffusion.Data.World.Sounds;
using SonicDiffusion.Tests.Infrastructure;

namespace SonicDiffusion.Tests;

/// <summary>The sound recipes of the procedural world: the original recipe is frozen, every recipe is well-formed and distinct.</summary>
public class SoundRecipeTests
{
    public static TheoryData<WorldClass> AllClasses() => new(Enum.GetValues<WorldClass>());

    private static string Hash(float[] x) => Convert.ToHexString(SHA256.HashData(MemoryMarshal.AsBytes(x.AsSpan())))[..16];

    /// <summary>SHA-256 prefixes of recipe 0 clips taken before the recipes were split into per-class files.</summary>
    private static readonly Dictionary<WorldClass, string> Recipe0Hashes = new()
    {
        [WorldClass.WindNoise] = "6F6B0F16C223D64E 74557009FE01891B",
        [WorldClass.SquishingWater] = "CE6CBCAC83A10453 692CCDB970909591",
        [WorldClass.SplashingWater] = "A44FA7E964D2A721 6B61E96720775A2D",
        [WorldClass.FireCrackling] = "D3A27B21DA1A3445 D87812F20AAD4EA7",
        [WorldClass.Raining] = "2742BCDA1A438958 C13950C0AD91A731",
        [WorldClass.UnderwaterBubbling] = "07BE19276C201034 8DD7C7F4FA411097",
        [WorldClass.Thunder] = "249EDB78AC08A521 F67B010BC16B7EA4",
        [WorldClass.WaterfallBurbling] = "6B0C7D122BF6885D 1FD83274D45FC9BE",
        [WorldClass.Explosion] = "49CC6F939EEA8246 1810EA75F39AC739",
    };

    [Theory]
    [MemberData(nameof(AllClasses))]
    public void TheOriginalRecipeIsUnchanged(WorldClass cls)
    {
        var hashes = string.Join(" ", new[] { (0.15, 1.3, 7UL), (0.8, 2.0, 123UL) }
            .Select(p => Hash(SoundSynth.Synthesize(cls, p.Item1, p.Item2, new WorldRandom(p.Item3 + (ulong)cls)))));
        Assert.Equal(Recipe0Hashes.GetValueOrDefault(cls), hashes);
    }

    [Fact]
    public void RecipesHaveStableUniqueNames()
    {
        var names = Enum.GetValues<WorldClass>().SelectMany(cls => Enumerable.Range(0, SoundSynth.RecipeCount(cls)).Select(r => (cls, Name: SoundSynth.RecipeName(cls, r)))).ToList();
        Assert.Equal(names.Count, names.Select(n => n.Name).Distinct().Count());
        foreach (var cls in Enum.GetValues<WorldClass>()) Assert.True(SoundSynth.RecipeCount(cls) >= 4, $"{cls}: {SoundSynth.RecipeCount(cls)} recipes");
        foreach (var (cls, name) in names) Assert.Matches($"^{WorldClasses.Info(cls).Label}/[a-z][a-z_]*$", name);
        Assert.Equal("fire_crackling/crackle", SoundSynth.RecipeName(WorldClass.FireCrackling, 0));
        Assert.Equal("raining/on_water", SoundSynth.RecipeName(WorldClass.Raining, 1));
        var e = Assert.Throws<SonicException>(() => SoundSynth.Synthesize(WorldClass.Thunder, 9, 0.5, 1, new WorldRandom(1)));
        Assert.Contains("thunder", e.Message);
        Assert.Contains("9", e.Message);
        Assert.Throws<SonicException>(() => SoundSynth.RecipeName(WorldClass.Thunder, -1));
    }

    [Theory]
    [MemberData(nameof(AllClasses))]
    public void EveryRecipeIsDeterministicBoundedAndAudible(WorldClass cls)
    {
        for (int r = 0; r < SoundSynth.RecipeCount(cls); r++)
        {
            string id = SoundSynth.RecipeName(cls, r);
            foreach (double level in new[] { 0.0, 1.0 })
            {
                var a = SoundSynth.Synthesize(cls, r, level, 1.5, new WorldRandom(42));
                var b = SoundSynth.Synthesize(cls, r, level, 1.5, new WorldRandom(42));
                var c = SoundSynth.Synthesize(cls, r, level, 1.5, new WorldRandom(43));
                Assert.Equal(66150, a.Length);
                Assert.True(a.AsSpan().SequenceEqual(b), $"{id}: two renders with one seed differ");
                Assert.False(a.AsSpan().SequenceEqual(c), $"{id}: two seeds give the same clip");
                Assert.All(a, v => Assert.True(float.IsFinite(v) && Math.Abs(v) <= 1, $"{id} at intensity {level}: sample {v}"));
                double db = 20 * Math.Log10(Dsp.Rms(a));
                Assert.True(db is > -55 and < -6, $"{id} at intensity {level}: {db:0.0} dBFS");
            }
        }
    }

    /// <summary>Louder means more intense within every recipe and across the recipes of a class (what <c>sonic eval</c>'s intensity correlation needs).</summary>
    [Theory]
    [MemberData(nameof(AllClasses))]
    public void IntensityRaisesLoudnessInEveryRecipe(WorldClass cls)
    {
        double[] levels = [0.1, 0.5, 0.9];
        int recipes = SoundSynth.RecipeCount(cls);
        var db = new double[recipes, levels.Length];
        for (int r = 0; r < recipes; r++)
            for (int l = 0; l < levels.Length; l++)
                db[r, l] = Enumerable.Range(0, 3).Average(k => 20 * Math.Log10(Dsp.Rms(SoundSynth.Synthesize(cls, r, levels[l], 2.0, new WorldRandom((ulong)(500 + 7 * r + k))))));
        string Table() => string.Join("; ", Enumerable.Range(0, recipes).Select(r => $"{SoundSynth.RecipeName(cls, r)} {db[r, 0]:0.0}/{db[r, 1]:0.0}/{db[r, 2]:0.0}"));
        for (int r = 0; r < recipes; r++)
            Assert.True(db[r, 1] > db[r, 0] + 2 && db[r, 2] > db[r, 1] + 2, $"mean dBFS at intensity 0.1/0.5/0.9: {Table()}");
        for (int l = 1; l < levels.Length; l++)
        {
            double quietestHere = Enumerable.Range(0, recipes).Min(r => db[r, l]), loudestBelow = Enumerable.Range(0, recipes).Max(r => db[r, l - 1]);
            Assert.True(quietestHere > loudestBelow, $"a recipe at intensity {levels[l]} is quieter than another at {levels[l - 1]}: {Table()}");
        }
    }

    /// <summary>
    /// The recipes of a class are different sounds, not one sound with other constants: every pair differs clearly in at
    /// least one descriptor (centroid, flatness, spectral crest, onset rate, level spread) relative to the spread between seeds.
    /// </summary>
    [Theory]
    [MemberData(nameof(AllClasses))]
    public void RecipesOfAClassSoundDifferent(WorldClass cls)
    {
        int recipes = SoundSynth.RecipeCount(cls), seeds = 4;
        var f = new double[recipes][][];
        for (int r = 0; r < recipes; r++)
            f[r] = Enumerable.Range(0, seeds).Select(k =>
            {
                var s = SoundFeatures.Measure(SoundSynth.Synthesize(cls, r, 0.6, 3.0, new WorldRandom((ulong)(900 + k))), SoundSynth.SampleRate);
                return new[] { Math.Log2(s.CentroidHz), 10 * s.Flatness, s.CrestDb / 3, Math.Log2(1 + s.OnsetsPerSecond), s.LevelSpreadDb / 3 };
            }).ToArray();
        string[] names = ["log2 centroid", "10 x flatness", "crest / 3 dB", "log2(1 + onsets/s)", "level spread / 3 dB"];
        for (int a = 0; a < recipes; a++)
            for (int b = a + 1; b < recipes; b++)
            {
                var separations = Enumerable.Range(0, names.Length).Select(d =>
                {
                    var (ma, sa) = MeanSd(f[a].Select(v => v[d]));
                    var (mb, sb) = MeanSd(f[b].Select(v => v[d]));
                    return Math.Abs(ma - mb) / (sa + sb + 0.1);
                }).ToArray();
                int best = Array.IndexOf(separations, separations.Max());
                Assert.True(separations[best] > 2, $"{SoundSynth.RecipeName(cls, a)} vs {SoundSynth.RecipeName(cls, b)}: best separation {separations[best]:0.00} ({names[best]}); all: {string.Join(", ", separations.Select(v => v.ToString("0.00")))}");
            }
    }

    private static (double Mean, double Sd) MeanSd(IEnumerable<double> values)
    {
        var v = values.ToArray();
        double m = v.Average();
        return (m, Math.Sqrt(v.Average(x => (x - m) * (x - m))));
    }

    [Fact]
    public void FeaturesTellToneFromNoiseAndCountOnsets()
    {
        const int sr = SoundSynth.SampleRate;
        var tone = new float[2 * sr];
        for (int k = 0; k < tone.Length; k++) tone[k] = 0.5f * (float)Math.Sin(2 * Math.PI * 1000 * k / sr);
        var rng = new WorldRandom(3);
        var noise = Enumerable.Range(0, 2 * sr).Select(_ => 0.3f * (float)rng.Signed()).ToArray();
        var clicks = new float[2 * sr];
        for (int c = 0; c < 10; c++)
            for (int k = 0; k < 400; k++) clicks[c * sr / 5 + 2000 + k] = 0.5f * (float)(rng.Signed() * Math.Exp(-k / 80.0));
        var t = SoundFeatures.Measure(tone, sr);
        var w = SoundFeatures.Measure(noise, sr);
        var c10 = SoundFeatures.Measure(clicks, sr);
        Assert.InRange(t.CentroidHz, 950, 1050);
        Assert.True(t.Flatness < 0.01, $"tone flatness {t.Flatness}");
        Assert.InRange(w.CentroidHz, 10000, 12000);
        Assert.True(w.Flatness > 0.5, $"noise flatness {w.Flatness}");
        Assert.True(t.CrestDb > 20 && w.CrestDb < 12, $"crest: tone {t.CrestDb:0.0} dB, noise {w.CrestDb:0.0} dB");
        Assert.Equal(20 * Math.Log10(0.5 / Math.Sqrt(2)), t.RmsDb, 1);
        Assert.True(t.LevelSpreadDb < 0.5 && w.LevelSpreadDb < 1, $"steady sounds: spread {t.LevelSpreadDb} / {w.LevelSpreadDb}");
        Assert.Equal(5.0, c10.OnsetsPerSecond, 0.6);
        Assert.Equal(0, t.OnsetsPerSecond);
    }

    [Fact]
    public void CatalogWritesAClipAndARowPerRecipeAndIntensity()
    {
        using var dir = RepoPaths.NewTemp();
        var (code, stdout, stderr) = CliTests.Sonic("data", "sounds", "--out", dir.Path, "--seed", "4", "--seconds", "0.5", "--intensities", "0.3,0.9");
        Assert.True(code == 0, stderr);
        int recipes = Enum.GetValues<WorldClass>().Sum(SoundSynth.RecipeCount);
        var rows = File.ReadAllLines(Path.Combine(dir.Path, SoundCatalog.TableFileName)).Skip(1).Select(l => l.Split('\t')).ToList();
        Assert.Equal(2 * recipes, rows.Count);
        Assert.Equal(2 * recipes, Directory.GetFiles(dir.Path, "*.wav").Length);
        Assert.Contains(rows, r => r[0] == "explosion/debris" && r[1] == "0.90" && r[2] == "explosion.debris.i0.90.wav");
        var clip = AudioReader.Read(Path.Combine(dir.Path, "wind_noise.howl.i0.30.wav"));
        Assert.Equal((SoundSynth.SampleRate, 22050), (clip.SampleRate, clip.FrameCount));
        Assert.Contains("thunder/long_rumble", stdout);
        var bad = CliTests.Sonic("data", "sounds", "--out", dir.Path, "--intensities", "0.5,loud");
        Assert.NotEqual(0, bad.Code);
        Assert.Contains("'loud'", bad.Err);
    }
}
