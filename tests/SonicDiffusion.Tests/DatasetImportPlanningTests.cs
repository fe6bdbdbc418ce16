using SonicDiffusion.Core;
using SonicDiffusion.Data.Import;
using SonicDiffusion.Tests.Infrastructure;

namespace SonicDiffusion.Tests;

/// <summary>The parts of <c>sonic data import</c> that need no decoding: splits, name tables, file-name codes, frame times, probes.</summary>
public class DatasetImportPlanningTests
{
    private static ImportClip Clip(string id, string group, string? pathSplit = null) => new()
    {
        Id = id, Source = "/x/" + id, RelativeSource = $"c/{id}.mp4", Label = "c", Group = group, PathSplit = pathSplit,
    };

    [Fact]
    public void HashSplitIsStableAndHonoursTheFractions()
    {
        var a = new SplitAssigner([], 0.1, 0.2);
        var keys = Enumerable.Range(0, 4000).Select(i => $"clip{i}").ToList();
        var splits = keys.Select(a.HashSplit).ToList();
        Assert.Equal(splits, keys.Select(new SplitAssigner([], 0.1, 0.2).HashSplit));
        Assert.InRange(splits.Count(s => s == "val") / 4000.0, 0.08, 0.12);
        Assert.InRange(splits.Count(s => s == "test") / 4000.0, 0.18, 0.22);
        // Clips of one group share a split; a split folder in the path wins over the hash.
        Assert.Equal(a.Assign(Clip("v-hit1", "v")), a.Assign(Clip("v-hit2", "v")));
        Assert.Equal("test", a.Assign(Clip("x", "x", "test")));
        Assert.Throws<SonicException>(() => new SplitAssigner([], 0.5, 0.5));
        Assert.Throws<SonicException>(() => new SplitAssigner([], -0.1, 0.1));
    }

    [Fact]
    public void OfficialSplitFilesListNamesOrNamesWithSplits()
    {
        using var tmp = new TempDir();
        File.WriteAllLines(tmp.File("audio_train_landscape.txt"), ["/datasets/audio-image/audios/landscape-audios/0516_5118.wav", ""]);
        File.WriteAllLines(tmp.File("audio_val_landscape.txt"), ["/datasets/audio-image/audios/landscape-audios/0001_0002.wav"]);
        File.WriteAllLines(tmp.File("gh.csv"), ["video,split", "2015-01-01-00-00-01,test"]);
        var a = new SplitAssigner([tmp.File("audio_train_landscape.txt"), tmp.File("audio_val_landscape.txt"), tmp.File("gh.csv")], 0.1, 0.1);
        Assert.Equal("train", a.Assign(Clip("0516_5118", "0516_5118")));
        Assert.Equal("val", a.Assign(Clip("0001_0002", "0001_0002", "train")));
        Assert.Equal("test", a.Assign(Clip("2015-01-01-00-00-01-hit0003", "2015-01-01-00-00-01")));
        Assert.Null(a.Assign(Clip("9999_9999", "9999_9999")));

        File.WriteAllLines(tmp.File("splits.txt"), ["a", "b"]);
        var e = Assert.Throws<SonicException>(() => new SplitAssigner([tmp.File("splits.txt")], 0.1, 0.1));
        Assert.Equal($"{tmp.File("splits.txt")}:1: one name per line needs a file name that says train, val or test; else write 'name,split' lines", e.Message);
        File.WriteAllLines(tmp.File("bad.csv"), ["name,split", "a,train", "b,holdout"]);
        e = Assert.Throws<SonicException>(() => new SplitAssigner([tmp.File("bad.csv")], 0.1, 0.1));
        Assert.Equal($"{tmp.File("bad.csv")}:3: split 'holdout' is not train, val or test", e.Message);
    }

    [Fact]
    public void NameTableFindsByFileNameOrStem()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp.File("c.csv"), "image,caption\n/data/images/landscape-images/0516_5118.png,\"rain on a lake, grey\"\nx.jpg,a dog\n");
        var t = NameTable.Read(tmp.File("c.csv"), "caption");
        Assert.Equal(2, t.Count);
        Assert.Equal("rain on a lake, grey", t.Find("0516_5118.png"));
        Assert.Equal("rain on a lake, grey", t.Find("nothing.png", "0516_5118"));
        Assert.Equal("a dog", t.Find("x.png"));
        Assert.Null(t.Find("y.png", "y"));
        File.WriteAllText(tmp.File("one.csv"), "only-one-field\n");
        var e = Assert.Throws<SonicException>(() => NameTable.Read(tmp.File("one.csv"), "caption"));
        Assert.Equal($"{tmp.File("one.csv")}:1: expected 'name,value', found 1 field(s)", e.Message);
    }

    [Theory]
    [InlineData("01-01-03-01-01-01-01", "Actor_01", null)]
    [InlineData("01-01-03-01-01-01", "Actor_01", "file name '01-01-03-01-01-01' is not a RAVDESS code (seven two-digit fields, e.g. 01-01-03-01-01-01-12)")]
    [InlineData("01-01-03-03-01-01-01", "Actor_01", "file name '01-01-03-03-01-01-01': emotional intensity code 03 is not valid")]
    [InlineData("01-01-03-01-01-01-25", "Actor_25", "file name '01-01-03-01-01-01-25': actor code 25 is not valid")]
    [InlineData("01-01-03-01-01-01-07", "Actor_08", "file name '01-01-03-01-01-01-07' names actor 07 but lies in Actor_08")]
    public void RavdessCodes(string stem, string folder, string? error)
    {
        Assert.Equal(error, RavdessImporter.Decode(stem, folder, out var fields));
        if (error != null) return;
        Assert.Equal("happy", fields["emotion"]!.GetValue<string>());
        Assert.Equal("male", fields["sex"]!.GetValue<string>());
        Assert.Equal("kids are talking by the door", fields["statement"]!.GetValue<string>());
    }

    [Fact]
    public void GreatestHitsLabelsAndWindowsFromTheAnnotation()
    {
        using var tmp = new TempDir();
        Directory.CreateDirectory(tmp.File("src"));
        File.WriteAllBytes(tmp.File("src/v1_denoised.mp4"), []);
        File.WriteAllLines(tmp.File("src/v1_times.txt"), ["3.25 wood hit static", "0.5 leaf None rattle", "4 metal scratch"]);
        var issues = new List<ImportIssue>();
        var opts = new ImportOptions { Kind = "greatest-hits", Source = tmp.File("src"), Output = tmp.File("out"), LabelBy = "material-action", Seconds = 1 };
        var clips = new GreatestHitsImporter().Plan(opts, issues);
        Assert.Equal(["wood hit", "metal scratch"], clips.Select(c => c.Label));
        Assert.Equal([2.75, 3.5], clips.Select(c => c.Start));
        Assert.Equal(["v1-hit0001", "v1-hit0003"], clips.Select(c => c.Id));
        Assert.Equal("v1_times.txt:2: skipped: no material action annotated for the hit at 0.5 s", Assert.Single(issues).ToString());
        Assert.Equal("a wood hit on a static object", DatasetImport.FillTemplate("a {label} on a {reaction} object", clips[0]));
        Assert.Throws<SonicException>(() => new GreatestHitsImporter().Plan(opts with { LabelBy = "colour" }, issues));
    }

    [Fact]
    public void LandscapeLabelsComeFromClassFoldersOrTheLabelsFile()
    {
        using var tmp = new TempDir();
        foreach (var f in new[] { "src/train/wind_noise/0001_0001.mp4", "src/0002_0002.mp4", "src/0003_0003.mp4", "src/raining/notes.txt" })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(tmp.File(f))!);
            File.WriteAllBytes(tmp.File(f), []);
        }
        File.WriteAllText(tmp.File("labels.csv"), "filename,label\r\n0002_0002.png,thunder\r\n");
        var opts = new ImportOptions { Kind = "landscape", Source = tmp.File("src"), Output = tmp.File("out") };
        var issues = new List<ImportIssue>();
        var clips = new LandscapeImporter().Plan(opts with { Labels = tmp.File("labels.csv") }, issues);
        Assert.Equal([("0002_0002", "thunder", null), ("0001_0001", "wind noise", "train")], clips.Select(c => (c.Id, c.Label, c.PathSplit)));
        Assert.Equal("0003_0003.mp4: bad annotation: no label in labels.csv and not in a class folder", Assert.Single(issues).ToString());
        issues.Clear();
        Assert.Single(new LandscapeImporter().Plan(opts, issues));
        Assert.Equal(2, issues.Count);
    }

    [Fact]
    public void FrameTimesSnapToWholeFramesAndSeekHalfAFrameEarly()
    {
        var info = new MediaInfo { FramesPerSecond = 6, FrameCount = 18, DurationSeconds = 3, Width = 8, Height = 8 };
        Assert.Equal([(0, 2.5 / 6, 0.5), (1, 8.5 / 6, 1.5), (2, 14.5 / 6, 2.5)], DatasetImport.FrameTimes(info, 0, 3, 3, false).ToList());
        Assert.Equal([(0, 0.0, 0.0)], DatasetImport.FrameTimes(info, 0, 3, 1, true).ToList());
        Assert.Equal([(0, 5.5 / 6, 1.0)], DatasetImport.FrameTimes(info, 0.9, 0.2, 1, true).ToList());
        var e = Assert.Throws<ClipFailedException>(() => DatasetImport.FrameTimes(info, 2.5, 0.5, 4, false).ToList());
        Assert.Equal((ImportProblem.TooShort, "the clip holds 3 video frame(s), fewer than --frames 4"), (e.Problem, e.Message));
        Assert.Equal([(0, 1.0, 1.0)], DatasetImport.FrameTimes(info with { FramesPerSecond = null }, 0, 2, 1, false).ToList());
    }

    [Fact]
    public void ProbeOutputIsParsed()
    {
        const string json = """
            {"streams":[{"codec_type":"video","width":64,"height":48,"avg_frame_rate":"30000/1001","nb_frames":"90"},
                        {"codec_type":"audio","channels":2,"sample_rate":"48000"},
                        {"codec_type":"video","width":300,"height":300,"disposition":{"attached_pic":1}}],
             "format":{"duration":"3.003000"}}
            """;
        var info = MediaInfo.Parse(json, "x.mp4");
        Assert.Equal((true, true, 2, 48000, 64, 90L), (info.HasAudio, info.HasVideo, info.AudioChannels, info.AudioSampleRate, info.Width, info.VideoFrames));
        Assert.Equal(30000 / 1001.0, info.FramesPerSecond!.Value, 9);
        var cover = MediaInfo.Parse("""{"streams":[{"codec_type":"audio","channels":1,"sample_rate":"44100"},{"codec_type":"video","width":300,"height":300,"disposition":{"attached_pic":1}}],"format":{}}""", "x.mp3");
        Assert.False(cover.HasVideo);
        Assert.Null(cover.DurationSeconds);
    }

    [Fact]
    public void ClassFoldersSplitFoldersAndIds()
    {
        Assert.Equal("wind noise", SourceTree.FolderLabel("train/wind_noise/a.mp4"));
        Assert.Equal("wind noise", SourceTree.FolderLabel("wind_noise/validation/a.mp4"));
        Assert.Null(SourceTree.FolderLabel("a.mp4"));
        Assert.Equal("val", SourceTree.PathSplit("wind_noise/validation/a.mp4"));
        Assert.Null(SourceTree.PathSplit("wind_noise/a.mp4"));
        Assert.Equal("train__wind__a_b", SourceTree.SafeId("train/wind/a b"));
        var issues = new List<ImportIssue>();
        var kept = SourceTree.UniqueIds([Clip("a", "a"), Clip("a", "a") with { RelativeSource = "d/a.mp4" }], issues);
        Assert.Single(kept);
        Assert.Equal("d/a.mp4: skipped: clip id 'a' already taken by c/a.mp4", Assert.Single(issues).ToString());
    }
}
