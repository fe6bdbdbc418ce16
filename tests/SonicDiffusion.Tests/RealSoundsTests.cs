using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using SonicDiffusion.Data;
using SonicDiffusion.Data.World;
using SonicDiffusion.Evaluation;
using SonicDiffusion.Tests.Infrastructure;

namespace SonicDiffusion.Tests;

/// <summary>
/// The curated list of real recordings (scripts/real-sounds.tsv), the script's refusal of bad lists, and the audio-only
/// manifest rows the script writes. Fetching the packages needs the network and is not run here.
/// </summary>
public class RealSoundsTests
{
    private static readonly string ListPath = Path.Combine(RepoPaths.Root, "scripts", "real-sounds.tsv");
    private static readonly string ScriptPath = Path.Combine(RepoPaths.Root, "scripts", "real-sounds.sh");
    private static readonly Regex Reserved = new("^(wesnoth|scorched3d|megaglest|lincity|hedgewars)", RegexOptions.IgnoreCase);

    private static List<string[]> ListEntries() =>
        File.ReadLines(ListPath)
            .Where(l => l.Trim().Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split('\t'))
            .ToList();

    [Fact]
    public void CuratedListNamesWorldLabelsLicencesAndNoReservedPackage()
    {
        var labels = WorldClasses.All.Select(c => c.Label).ToHashSet();
        var entries = ListEntries();
        Assert.True(entries.Count >= 50, $"only {entries.Count} entries in {ListPath}");
        foreach (var e in entries)
        {
            var where = $"{ListPath}: {string.Join(" | ", e)}";
            Assert.True(e.Length == 7, $"{where}: expected 7 tab-separated fields, found {e.Length}");
            Assert.False(Reserved.IsMatch(e[0]), $"{where}: package reserved for the independent test set");
            Assert.Contains(e[2], labels);
            Assert.False(string.IsNullOrWhiteSpace(e[5]), $"{where}: no licence");
            foreach (var seconds in new[] { e[3], e[4] }.Where(s => s.Length > 0))
                Assert.True(double.TryParse(seconds, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0, $"{where}: '{seconds}' is not seconds");
        }
        var repeated = entries.GroupBy(e => (e[0], e[1], e[3])).FirstOrDefault(g => g.Count() > 1);
        Assert.True(repeated == null, $"{repeated?.Key} is listed twice");
        Assert.All(labels, l => Assert.Contains(entries, e => e[2] == l));
    }

    [Theory]
    [InlineData("wesnoth-1.16-data\tusr/share/games/wesnoth/x.ogg\tthunder\t\t\tGPL-2+\tn", "reserved for the independent test set")]
    [InlineData("hedgewars-data\tusr/share/games/hedgewars/x.ogg\texplosion\t\t\tGPL-2\tn", "reserved for the independent test set")]
    [InlineData("minetest-data\tusr/x.ogg\tfire\t\t\tCC0-1.0\tn", "label 'fire' is not one of")]
    [InlineData("minetest-data\tusr/x.ogg\tthunder\tsoon\t\tCC0-1.0\tn", "start 'soon' is not a number")]
    [InlineData("minetest-data\tusr/x.ogg\tthunder\t\t\t\tn", "licence is empty")]
    public void ScriptRefusesABadListBeforeTouchingAnything(string line, string expected)
    {
        using var dir = RepoPaths.NewTemp();
        var list = dir.File("list.tsv");
        File.WriteAllText(list, "# header\n" + line + "\n");
        var outDir = dir.File("out");
        var psi = new ProcessStartInfo("bash") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { ScriptPath, outDir, list }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEnd();
        p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(30_000), "script did not finish");
        Assert.Equal(1, p.ExitCode);
        Assert.Contains($"{list}:2: ", stderr);
        Assert.Contains(expected, stderr);
        Assert.Single(stderr.Trim().Split('\n'));
        Assert.False(Directory.Exists(outDir), "the script created its output folder although the list was bad");
    }

    // Two rows exactly as scripts/real-sounds.sh writes them (no image, no caption).
    private const string ScriptRows = """
        {"audio":"audio/explosion/btanks-data__vehicle-explosion-61e8a768.wav","label":"explosion","split":"val","group":"07a6bcc3c35c","segment":0,"start_s":0,"duration_s":10,"source_package":"btanks-data","package_version":"0.9.8083-9","package_path":"/usr/share/games/btanks/data/sounds/vehicle-explosion.ogg","licence":"Battle-Tanks-License (GPL with exception)","copyright_file":"licences/btanks-data.copyright","recipe":"real","note":"explosion"}
        {"audio":"audio/raining/flare-game__rain-0a1b2c3d_s01.wav","label":"raining","split":"train","group":"5f4e3d2c1b0a","segment":1,"start_s":10,"duration_s":10,"source_package":"flare-game","package_version":"1.14-1","package_path":"/usr/share/games/flare/mods/empyrean_campaign/soundfx/environment/rain.ogg","licence":"CC-BY-SA-3.0+ (Flare)","copyright_file":"licences/flare-game.copyright","recipe":"real","note":"rain"}
        """;

    [Fact]
    public void ScriptRowsReadAsAudioOnlyRowsWithTheirProvenance()
    {
        var m = DatasetManifest.Parse(new StringReader(ScriptRows), "/data/real/manifest.jsonl", ManifestFormat.Jsonl, ["audio", "label", "split"]);
        Assert.Empty(m.Issues);
        Assert.Equal(["explosion", "raining"], m.Rows.Select(r => r.Label));
        Assert.Equal(["val", "train"], m.Rows.Select(r => r.Split));
        Assert.All(m.Rows, r => Assert.Equal(("", ""), (r.Image, r.Caption)));
        var rain = m.Rows[1];
        Assert.Equal("/data/real/audio/raining/flare-game__rain-0a1b2c3d_s01.wav", m.AudioPath(rain));
        Assert.Equal((1.0, 10.0, 10.0), (rain.Number("segment")!.Value, rain.Number("start_s")!.Value, rain.Number("duration_s")!.Value));
        Assert.Equal("real", rain.Text("recipe"));
        Assert.Equal("flare-game", rain.Text("source_package"));
        Assert.Equal("1.14-1", rain.Text("package_version"));
        Assert.Equal("CC-BY-SA-3.0+ (Flare)", rain.Text("licence"));
        Assert.StartsWith("/usr/share/games/flare/", rain.Text("package_path"));

        // A reader that insists on the full pair (as `sonic train` does today) reports each row instead of guessing.
        var strict = DatasetManifest.Parse(new StringReader(ScriptRows), "/data/real/manifest.jsonl", ManifestFormat.Jsonl);
        Assert.Empty(strict.Rows);
        Assert.All(strict.Issues, i => Assert.Contains("missing field 'image'", i.Message));
    }

    [Fact]
    public void EvaluationReadsScriptRows()
    {
        using var dir = RepoPaths.NewTemp();
        var path = dir.File("manifest.jsonl");
        File.WriteAllText(path, ScriptRows);
        var m = WorldEvaluator.ReadManifest(path);
        Assert.Empty(m.Issues);
        Assert.Equal(2, m.Rows.Count);
    }
}
