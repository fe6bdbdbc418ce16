using System.Buffers.Binary;
using System.CommandLine;
using System.Text.Json.Nodes;
using SkiaSharp;
using SonicDiffusion.Audio;
using SonicDiffusion.Cli.Commands;
using SonicDiffusion.Data;
using SonicDiffusion.Data.World;
using SonicDiffusion.Tests.Infrastructure;

namespace SonicDiffusion.Tests;

/// <summary>
/// One small world-1 world (27 samples = 3 blocks of 9 classes: one train, one val, one test block) shared by the tests
/// that need fixed split counts; <see cref="SmallWorld2Fixture"/> is the same size in world 2 (where a held-out recipe's
/// clip moves to test).
/// </summary>
public class SmallWorldFixture : IDisposable
{
    public const ulong Seed = 3;
    public const int Count = 27;
    public TempDir Dir { get; } = RepoPaths.NewTemp();
    public WorldSummary Summary { get; }
    public DatasetManifest Manifest { get; }

    public SmallWorldFixture() : this(1) { }

    protected SmallWorldFixture(int world)
    {
        Summary = WorldGenerator.Generate(Dir.Path, Seed, Count, threads: 2, world: world);
        Manifest = DatasetManifest.Read(Summary.ManifestPath);
    }

    public void Dispose()
    {
        Dir.Dispose();
        GC.SuppressFinalize(this);
    }
}

public sealed class SmallWorld2Fixture() : SmallWorldFixture(2);

public class SyntheticWorldTests(SmallWorld2Fixture world) : IClassFixture<SmallWorld2Fixture>
{
    [Fact]
    public void SameSeedGivesIdenticalBytesAndDifferentSeedDiffers()
    {
        using var again = RepoPaths.NewTemp();
        WorldGenerator.Generate(again.Path, SmallWorldFixture.Seed, SmallWorldFixture.Count, threads: 1);
        var files = Directory.GetFiles(world.Dir.Path, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(world.Dir.Path, f)).Order().ToList();
        Assert.Equal(2 + 2 * SmallWorldFixture.Count, files.Count);
        Assert.Equal(files, Directory.GetFiles(again.Path, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(again.Path, f)).Order());
        foreach (var f in files)
            Assert.True(File.ReadAllBytes(Path.Combine(world.Dir.Path, f)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(again.Path, f))), $"{f} differs between two runs with the same seed");

        using var single = RepoPaths.NewTemp();
        var row = WorldGenerator.GenerateSample(single.Path, WorldGenerator.Plan(SmallWorldFixture.Seed, 17));
        Assert.Equal(File.ReadAllBytes(Path.Combine(world.Dir.Path, "audio/000017.wav")), File.ReadAllBytes(Path.Combine(single.Path, row.Audio)));
        Assert.Equal(File.ReadAllBytes(Path.Combine(world.Dir.Path, "images/000017.png")), File.ReadAllBytes(Path.Combine(single.Path, row.Image)));
        Assert.Equal(world.Manifest.Rows[17].Caption, row.Caption);

        using var other = RepoPaths.NewTemp();
        WorldGenerator.Generate(other.Path, SmallWorldFixture.Seed + 1, 3);
        for (int i = 0; i < 3; i++)
        {
            string stem = WorldGenerator.FileStem(i);
            Assert.False(File.ReadAllBytes(Path.Combine(world.Dir.Path, $"audio/{stem}.wav")).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(other.Path, $"audio/{stem}.wav"))));
            Assert.False(File.ReadAllBytes(Path.Combine(world.Dir.Path, $"images/{stem}.png")).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(other.Path, $"images/{stem}.png"))));
        }
    }

    [Fact]
    public void ClassesAreBalancedOverSplits()
    {
        var plans = Enumerable.Range(0, 900).Select(i => WorldGenerator.Plan(11, i, world: 1)).ToList();
        foreach (var info in WorldClasses.All)
        {
            var mine = plans.Where(p => p.Class == info.Class).ToList();
            Assert.Equal(100, mine.Count);
            Assert.Equal(80, mine.Count(p => p.Split == "train"));
            Assert.Equal(10, mine.Count(p => p.Split == "val"));
            Assert.Equal(10, mine.Count(p => p.Split == "test"));
        }
        // World 2: the same classes and blocks; clips of a class's held-out recipe are all test, never train or val.
        var plans2 = Enumerable.Range(0, 900).Select(i => WorldGenerator.Plan(11, i)).ToList();
        Assert.Equal(plans.Select(p => p.Class), plans2.Select(p => p.Class));
        for (int i = 0; i < plans.Count; i++)
        {
            bool heldOut = WorldGenerator.IsHeldOutRecipe(plans2[i].Class, plans2[i].Recipe);
            if (heldOut) Assert.Equal("test", plans2[i].Split);
            else if (SoundSynth.RecipeCount(plans2[i].Class) > 1 || plans2[i].Split != "test") Assert.Equal(plans[i].Split, plans2[i].Split);
        }
        double share = plans2.Count(p => p.Split == "test" && plans[p.Index].Split != "test") / (double)plans.Count(p => p.Split != "test");
        Assert.InRange(share, 0.04, 0.12);
        // A small world still has every class in every split (world 1; in world 2 a held-out recipe's clip moves to test).
        using var small = RepoPaths.NewTemp();
        var smallRows = DatasetManifest.Read(WorldGenerator.Generate(small.Path, SmallWorldFixture.Seed, SmallWorldFixture.Count, world: 1).ManifestPath).Rows;
        foreach (var info in WorldClasses.All)
        {
            foreach (var split in ManifestRow.Splits)
                Assert.Contains(smallRows, r => r.Label == info.Label && r.Split == split);
            Assert.Contains(world.Manifest.Rows, r => r.Label == info.Label && r.Split == "test");
        }
        Assert.Equal(world.Summary.SplitCounts["train"], world.Manifest.Rows.Count(r => r.Split == "train"));
        Assert.Equal(Enumerable.Range(0, SmallWorldFixture.Count).Count(i => WorldGenerator.Plan(SmallWorldFixture.Seed, i).Split == "train"), world.Summary.SplitCounts["train"]);
    }

    [Fact]
    public void EveryFileIsReadableAndMatchesItsRow()
    {
        var m = world.Manifest;
        Assert.Empty(m.Issues);
        Assert.Equal(SmallWorldFixture.Count, m.Rows.Count);
        var worldJson = JsonNode.Parse(File.ReadAllText(Path.Combine(world.Dir.Path, WorldGenerator.WorldFileName)))!;
        Assert.Equal(SmallWorldFixture.Seed, worldJson["seed"]!.GetValue<ulong>());
        Assert.Equal(9, worldJson["classes"]!.AsArray().Count);
        foreach (var row in m.Rows)
        {
            Assert.False(Path.IsPathRooted(row.Audio));
            var (sr, channels, bits, samples) = ReadWav(m.AudioPath(row), out _);
            Assert.Equal((44100, 1, 16), (sr, channels, bits));
            double seconds = samples / 44100.0;
            Assert.InRange(seconds, 2.0, 10.0);
            Assert.Equal(row.Number("duration_s")!.Value, seconds, 2);
            using var bmp = SKBitmap.Decode(m.ImagePath(row));
            Assert.NotNull(bmp);
            Assert.Equal((128, 128), (bmp.Width, bmp.Height));
            Assert.NotNull(WorldClasses.FromLabel(row.Label));
            Assert.InRange(row.Number("intensity")!.Value, 0, 1);
            Assert.Contains(row.Text("time_of_day"), new[] { "day", "dusk", "night" });
            var backdrop = WorldGenerator.Plan(SmallWorldFixture.Seed, (int)row.Number("index")!.Value).Backdrop!;
            Assert.Equal(backdrop.Id, row.Text("setting"));
            Assert.Equal(2, row.Number("world"));
            Assert.StartsWith(row.Label + "/", row.Text(WorldGenerator.RecipeColumn));
        }
    }

    [Theory]
    [MemberData(nameof(AllClasses))]
    public void IntensityRaisesLoudness(WorldClass cls)
    {
        double[] levels = [0.1, 0.5, 0.9];
        var db = levels.Select(level => Enumerable.Range(0, 3).Average(k =>
        {
            var x = SoundSynth.Synthesize(cls, level, 2.0, new WorldRandom((ulong)(1000 * (int)cls + k)));
            return 20 * Math.Log10(Dsp.Rms(x));
        })).ToArray();
        Assert.True(db[1] > db[0] + 2 && db[2] > db[1] + 2, $"{cls}: mean RMS {string.Join(" / ", db.Select(d => d.ToString("0.0")))} dBFS at intensity {string.Join(" / ", levels)}");
        Assert.All(db, d => Assert.InRange(d, -50, -6));
    }

    [Theory]
    [MemberData(nameof(AllClasses))]
    public void IntensityRaisesVisualMagnitude(WorldClass cls)
    {
        double[] levels = [0.1, 0.5, 0.9];
        var info = WorldClasses.Info(cls);
        var mag = levels.Select(level => Enumerable.Range(0, 3).Average(k =>
            SceneRenderer.VisualMagnitude(new WorldScene(k, (ulong)(77 + 13 * k), cls, level, (TimeOfDay)k, info.Settings[k], 2, "train")))).ToArray();
        Assert.True(mag[0] > 0.002 && mag[1] > mag[0] * 1.15 && mag[2] > mag[1] * 1.15,
            $"{cls}: changed-pixel fraction {string.Join(" / ", mag.Select(v => v.ToString("0.000")))} at intensity {string.Join(" / ", levels)}");
    }

    [Theory]
    [MemberData(nameof(AllClasses))]
    public void IntensityRaisesVisualMagnitudeOnASharedBackdrop(WorldClass cls)
    {
        double[] levels = [0.1, 0.5, 0.9];
        var mag = levels.Select(level => Enumerable.Range(0, 3).Average(k =>
            SceneRenderer.VisualMagnitude(WorldGenerator.Plan(77, k) with { Class = cls, Intensity = level }))).ToArray();
        Assert.True(mag[0] > 0.002 && mag[1] > mag[0] * 1.15 && mag[2] > mag[1] * 1.15,
            $"{cls}: changed-pixel fraction {string.Join(" / ", mag.Select(v => v.ToString("0.000")))} at intensity {string.Join(" / ", levels)}");
        // The event stays an event: even at full intensity it changes well under half of the picture.
        Assert.True(mag[2] < 0.35, $"{cls}: the event changes {mag[2]:0.000} of the picture at intensity 0.9");
    }

    public static TheoryData<WorldClass> AllClasses() => new(Enum.GetValues<WorldClass>());

    [Fact]
    public void CaptionsAreVariedAndDescribeThePicture()
    {
        var scenes = Enumerable.Range(0, 900).Select(i => WorldGenerator.Plan(5, i)).ToList();
        foreach (var info in WorldClasses.All)
        {
            var captions = scenes.Where(s => s.Class == info.Class).Select(s => (Scene: s, Text: CaptionWriter.Write(s))).ToList();
            Assert.True(captions.Select(c => c.Text).Distinct().Count() >= 50, $"{info.Label}: only {captions.Select(c => c.Text).Distinct().Count()} distinct captions in 100");
            foreach (var (scene, text) in captions)
            {
                Assert.NotEqual(info.Name, text);
                Assert.NotEqual(info.Label, text);
                Assert.True(text.Split(' ').Length >= 5, text);
                Assert.Equal(text.ToLowerInvariant(), text);
                bool namesPlace = scene.Backdrop is { } b
                    ? PlaceWords(b).Any(text.Contains)
                    : text.Contains(scene.Setting.Phrase);
                bool namesTime = text.Contains("night") || text.Contains("day") || text.Contains("dusk") || text.Contains("sunset") || text.Contains("evening")
                    || text.Contains("twilight") || text.Contains("moon") || text.Contains("sky") || text.Contains("clouds") || text.Contains("water") || text.Contains("light");
                Assert.True(namesPlace || namesTime, text);
                if (scene.TimeOfDay != TimeOfDay.Night) Assert.DoesNotContain("night", text);
                if (scene.TimeOfDay != TimeOfDay.Day) Assert.DoesNotContain("sunny", text);
                if (scene.TimeOfDay != TimeOfDay.Dusk) Assert.DoesNotContain("sunset", text);
            }
        }
        Assert.All(world.Manifest.Rows, r => Assert.Equal(CaptionWriter.Write(WorldGenerator.Plan(SmallWorldFixture.Seed, (int)r.Number("index")!.Value)), r.Caption));
    }

    private static string[] PlaceWords(SceneBackdrop b)
    {
        string[] water = b.Water switch
        {
            WaterKind.Lake => ["lake"],
            WaterKind.Sea => ["sea", "coast"],
            WaterKind.River => ["river"],
            _ => ["pond"],
        };
        string[] ground = b.Ground switch
        {
            GroundKind.Grass => ["grass", "meadow"],
            GroundKind.Wheat => ["wheat", "golden field"],
            GroundKind.Sand => ["sand"],
            GroundKind.Snow => ["snow"],
            GroundKind.Mud => ["mud"],
            _ => ["rock", "stony"],
        };
        return [.. water, .. ground];
    }

    [Fact]
    public void RealRecordingsArePairedWithScenesOfTheirClass()
    {
        using var tmp = RepoPaths.NewTemp();
        Directory.CreateDirectory(tmp.File("real/audio"));
        WavWriter.WritePcm16(tmp.File("real/audio/fire-a.wav"), SoundSynth.Synthesize(WorldClass.FireCrackling, 0.5, 2, new WorldRandom(1)), 44100);
        WavWriter.WritePcm16(tmp.File("real/audio/fire-b.wav"), SoundSynth.Synthesize(WorldClass.FireCrackling, 0.7, 2, new WorldRandom(2)), 44100);
        WavWriter.WritePcm16(tmp.File("real/audio/rain.wav"), SoundSynth.Synthesize(WorldClass.Raining, 0.5, 2, new WorldRandom(3)), 44100);
        File.WriteAllLines(tmp.File("real/manifest.jsonl"),
        [
            """{"audio":"audio/fire-a.wav","label":"Fire Crackling","split":"train","source_package":"pkg-a","licence":"GPL-2+"}""",
            """{"audio":"audio/fire-b.wav","label":"fire_crackling","split":"train","source_package":"pkg-b","licence":"CC-BY-SA-3.0"}""",
            """{"audio":"audio/rain.wav","label":"raining","split":"val","source_package":"pkg-c","licence":"GPL-3+"}""",
        ]);
        var real = RealRecordings.Read(tmp.File("real/manifest.jsonl"));
        var summary = WorldGenerator.Generate(tmp.File("world"), 3, 9, real: real, realPerClass: 4);
        var m = DatasetManifest.Read(summary.ManifestPath);
        Assert.Empty(m.Issues);
        var rows = m.Rows.Where(r => r.Extra.ContainsKey("real")).ToList();
        Assert.Equal(9 + 5, m.Rows.Count);                     // 2 fire clips × 2 scenes each, 1 rain clip (val) × 1
        Assert.Equal(4, rows.Count(r => r.Label == "fire_crackling" && r.Split == "train"));
        Assert.Single(rows, r => r.Label == "raining" && r.Split == "val");
        Assert.Equal(2, rows.Where(r => r.Label == "fire_crackling").Select(r => r.Audio).Distinct().Count());
        foreach (var r in rows)
        {
            string source = r.Text("source_package")!;
            Assert.Equal($"real/{source}", r.Text(WorldGenerator.RecipeColumn));
            Assert.NotNull(r.Text("licence"));
            Assert.Null(r.Number("intensity"));                // a real clip's intensity is unknown
            string original = tmp.File($"real/audio/{(source == "pkg-a" ? "fire-a" : source == "pkg-b" ? "fire-b" : "rain")}.wav");
            Assert.Equal(File.ReadAllBytes(original), File.ReadAllBytes(m.AudioPath(r)));
            int index = (int)r.Number("index")!.Value;
            Assert.Equal(CaptionWriter.Write(WorldGenerator.Plan(3, index) with { Class = WorldClasses.FromLabel(r.Label)!.Class, Split = r.Split, Recipe = -1 }), r.Caption);
            Assert.True(File.Exists(m.ImagePath(r)));
        }
        var worldJson = JsonNode.Parse(File.ReadAllText(tmp.File("world/world.json")))!;
        Assert.Equal(4, worldJson["real_clips"]!["fire_crackling"]!["rows"]!.GetValue<int>());

        // Bad input names the file and line.
        File.WriteAllText(tmp.File("bad.jsonl"), "{\"audio\":\"x.wav\",\"label\":\"fire_crackling\",\"split\":\"train\"}\n{\"audio\":\"y.wav\",\"label\":\"birdsong\",\"split\":\"train\"}\n");
        var err = Assert.Throws<SonicDiffusion.Core.SonicException>(() => RealRecordings.Read(tmp.File("bad.jsonl")));
        Assert.Contains("bad.jsonl:2: label 'birdsong'", err.Message);
        Assert.Contains("--world 2", Assert.Throws<SonicDiffusion.Core.SonicException>(() => WorldGenerator.Generate(tmp.File("w1"), 3, 9, world: 1, real: real)).Message);
        Assert.Equal("wind_noise", RealRecordings.NormalizeLabel(" Wind-Noise "));
    }

    [Fact]
    public void ManifestRoundTripsThroughJsonlAndCsv()
    {
        using var dir = RepoPaths.NewTemp();
        var rows = new[]
        {
            new ManifestRow { Audio = "audio/a.wav", Image = "images/a.png", Caption = "a campfire, \"burning\" on a beach", Label = "fire_crackling", Split = "train",
                Extra = new Dictionary<string, JsonNode?> { ["intensity"] = 0.63, ["time_of_day"] = "dusk", ["note"] = "comma, quote \" and ünïcode" } },
            new ManifestRow { Audio = "sub dir/b.wav", Image = "b.png", Caption = " leading space and\nnewline", Label = "raining", Split = "test",
                Extra = new Dictionary<string, JsonNode?> { ["intensity"] = 1 } },
        };
        foreach (var name in new[] { "m.jsonl", "m.csv" })
        {
            var path = Path.Combine(dir.Path, "nested", name);
            DatasetManifest.Write(path, rows);
            var read = DatasetManifest.Read(path);
            Assert.Empty(read.Issues);
            Assert.Equal(2, read.Rows.Count);
            for (int k = 0; k < rows.Length; k++)
            {
                var (a, b) = (rows[k], read.Rows[k]);
                Assert.Equal((a.Audio, a.Image, a.Caption, a.Label, a.Split), (b.Audio, b.Image, b.Caption, b.Label, b.Split));
                Assert.Equal(a.Number("intensity"), b.Number("intensity"));
                Assert.Equal(a.Text("time_of_day"), b.Text("time_of_day"));
                Assert.Equal(a.Text("note"), b.Text("note"));
            }
            Assert.Equal(Path.Combine(dir.Path, "nested", "sub dir", "b.wav"), read.AudioPath(read.Rows[1]));
            Assert.Equal(name.EndsWith(".csv") ? 2 : 1, read.Rows[0].Line);
        }
        var round = Path.Combine(dir.Path, "again.csv");
        DatasetManifest.Write(round, world.Manifest.Rows);
        var back = DatasetManifest.Read(round);
        Assert.Empty(back.Issues);
        Assert.Equal(world.Manifest.Rows.Select(r => r.Caption), back.Rows.Select(r => r.Caption));
        Assert.Equal(world.Manifest.Rows.Select(r => r.Number("intensity")), back.Rows.Select(r => r.Number("intensity")));
    }

    [Fact]
    public void BadRowsAreReportedWithLineNumbers()
    {
        const string jsonl = """
            {"audio":"a.wav","image":"a.png","caption":"rain over a field","label":"raining","split":"train","intensity":0.5}
            {"audio":"b.wav","image":"b.png",
            {"audio":"c.wav","image":"c.png","label":"raining","split":"train"}

            {"audio":"d.wav","image":"d.png","caption":"x","label":3,"split":"val"}
            {"audio":"e.wav","image":"e.png","caption":"x","label":"thunder","split":"validation"}
            [1,2]
            {"audio":"f.wav","image":"","caption":"x","label":"thunder","split":"test"}
            {"audio":"g.wav","image":"g.png","caption":"ok","label":"thunder","split":"test"}
            """;
        var m = DatasetManifest.Parse(new StringReader(jsonl), "/data/m.jsonl", ManifestFormat.Jsonl);
        Assert.Equal(["a.wav", "g.wav"], m.Rows.Select(r => r.Audio));
        Assert.Equal([1, 9], m.Rows.Select(r => r.Line));
        Assert.Equal([2, 3, 5, 6, 7, 8], m.Issues.Select(i => i.Line));
        Assert.Contains("invalid JSON", m.Issues[0].Message);
        Assert.Contains("missing field 'caption'", m.Issues[1].Message);
        Assert.Contains("field 'label' must be a string", m.Issues[2].Message);
        Assert.Contains("split 'validation'", m.Issues[3].Message);
        Assert.Contains("JSON object", m.Issues[4].Message);
        Assert.Contains("field 'image' is empty", m.Issues[5].Message);
        Assert.StartsWith("m.jsonl:2: ", m.Issues[0].ToString());
        var e = Assert.Throws<SonicDiffusion.Core.SonicException>(m.ThrowIfInvalid);
        Assert.Contains("and 5 more", e.Message);

        const string csv = "audio,image,caption,label,split,intensity\n" +
                           "a.wav,a.png,\"multi\nline, caption\",raining,train,0.5\n" +
                           "b.wav,b.png,too few\n" +
                           "c.wav,c.png,,raining,train,\n" +
                           "d.wav,d.png,fine,raining,val,\n" +
                           "e.wav,e.png,\"never closed,raining,val,1\n";
        var c = DatasetManifest.Parse(new StringReader(csv), "m.csv", ManifestFormat.Csv);
        Assert.Equal(["a.wav", "d.wav"], c.Rows.Select(r => r.Audio));
        Assert.Equal("multi\nline, caption", c.Rows[0].Caption);
        Assert.Equal(0.5, c.Rows[0].Number("intensity"));
        Assert.Null(c.Rows[1].Number("intensity"));
        Assert.Equal([2, 6], c.Rows.Select(r => r.Line));
        Assert.Equal([4, 5, 7], c.Issues.Select(i => i.Line));
        Assert.Contains("expected 6 fields", c.Issues[0].Message);
        Assert.Contains("field 'caption' is empty", c.Issues[1].Message);
        Assert.Contains("unterminated", c.Issues[2].Message);

        var header = DatasetManifest.Parse(new StringReader("audio,image,text,label\nx,y,z,w\n"), "h.csv", ManifestFormat.Csv);
        Assert.Empty(header.Rows);
        Assert.Equal(1, Assert.Single(header.Issues).Line);
        Assert.Contains("'caption', 'split'", header.Issues[0].Message);
    }

    [Fact]
    public void WavWriterClipsAndRounds()
    {
        using var dir = RepoPaths.NewTemp();
        var path = dir.File("x.wav");
        WavWriter.WritePcm16(path, [-2f, -1f, 0f, 0.25f, 1f, 3f, float.NaN], 22050);
        var (sr, ch, bits, n) = ReadWav(path, out var pcm);
        Assert.Equal((22050, 1, 16, 7), (sr, ch, bits, n));
        Assert.Equal(new short[] { -32768, -32768, 0, 8192, 32767, 32767, 0 }, pcm);
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void CliWritesAWorldAndAPreview()
    {
        using var dir = RepoPaths.NewTemp();
        var root = new RootCommand { DataSynthCommand.Create() };
        var outDir = Path.Combine(dir.Path, "world");
        Assert.Equal(0, root.Parse(["synth", "--out", outDir, "--count", "10", "--seed", "5"]).Invoke());
        var m = DatasetManifest.Read(Path.Combine(outDir, "manifest.jsonl"));
        Assert.Equal(10, m.Rows.Count);
        // Re-running into an earlier world replaces it; a foreign non-empty folder is refused.
        Assert.Equal(0, root.Parse(["synth", "--out", outDir, "--count", "3", "--seed", "5"]).Invoke());
        Assert.Equal(3, Directory.GetFiles(Path.Combine(outDir, "audio")).Length);
        File.WriteAllText(dir.File("foreign.txt"), "x");
        Assert.Throws<SonicDiffusion.Core.SonicException>(() => WorldGenerator.Generate(dir.Path, 1, 1));

        var preview = dir.File("grid.png");
        Assert.Equal(0, root.Parse(["synth", "--preview", preview, "--seed", "1"]).Invoke());
        using var grid = SKBitmap.Decode(preview);
        Assert.Equal((4 * 128 + 5 * 2, 9 * 128 + 10 * 2), (grid.Width, grid.Height));
    }

    /// <summary>Parses a canonical PCM WAV: (sample rate, channels, bits, frames) and the 16-bit samples.</summary>
    private static (int SampleRate, int Channels, int Bits, int Frames) ReadWav(string path, out short[] pcm)
    {
        var b = File.ReadAllBytes(path).AsSpan();
        Assert.True(b[..4].SequenceEqual("RIFF"u8) && b[8..12].SequenceEqual("WAVE"u8), $"{path}: not RIFF/WAVE");
        Assert.Equal(b.Length - 8, BinaryPrimitives.ReadInt32LittleEndian(b[4..]));
        Assert.True(b[12..16].SequenceEqual("fmt "u8));
        Assert.Equal(1, BinaryPrimitives.ReadInt16LittleEndian(b[20..]));
        int channels = BinaryPrimitives.ReadInt16LittleEndian(b[22..]), sr = BinaryPrimitives.ReadInt32LittleEndian(b[24..]), bits = BinaryPrimitives.ReadInt16LittleEndian(b[34..]);
        Assert.True(b[36..40].SequenceEqual("data"u8));
        int bytes = BinaryPrimitives.ReadInt32LittleEndian(b[40..]);
        Assert.Equal(b.Length - 44, bytes);
        pcm = new short[bytes / 2];
        for (int k = 0; k < pcm.Length; k++) pcm[k] = BinaryPrimitives.ReadInt16LittleEndian(b[(44 + 2 * k)..]);
        return (sr, channels, bits, pcm.Length / channels);
    }
}
