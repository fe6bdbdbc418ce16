using System.CommandLine;
using SonicDiffusion.Data.Import;

namespace SonicDiffusion.Cli.Commands;

/// <summary>
/// <c>sonic data import KIND --src DIR --out DIR</c>: a downloaded video dataset (Landscape, The Greatest Hits, RAVDESS,
/// or any folder tree) to WAV + PNG pairs and a manifest; problems go to OUT/import-report.txt and never stop the rest;
/// exit code 1 only when no clip at all could be imported.
/// </summary>
public static class DataImportCommand
{
    public static Command Create()
    {
        var kind = new Argument<string>("kind") { Description = "Dataset layout: " + string.Join(", ", DatasetImport.Importers.Select(i => i.Kind)) };
        kind.AcceptOnlyFromAmong(DatasetImport.Importers.Select(i => i.Kind).ToArray());
        var src = new Option<string>("--src") { Description = "The dataset's folder as downloaded", Required = true };
        var outDir = new Option<string>("--out") { Description = "Output folder (new, empty, or an earlier import to resume)", Required = true };
        var frames = new Option<int>("--frames") { Description = "PNG frames per clip, at the centres of equal parts of the clip (1: the middle frame)", DefaultValueFactory = _ => 1 };
        var frame0 = new Option<bool>("--frame0") { Description = "Official naming: frames from the clip's first frame on, written <id>_frame<k>.png" };
        var seconds = new Option<double?>("--seconds") { Description = "Audio seconds per clip, less when the clip is shorter (default 10; greatest-hits: 2, centred on the hit)" };
        var minSeconds = new Option<double>("--min-seconds") { Description = "Clips with less audio are left out as too short", DefaultValueFactory = _ => 1.0 };
        var captions = new Option<string?>("--captions") { Description = "CSV of (image or clip name, caption), e.g. BLIP-2 captions" };
        var template = new Option<string>("--caption-template") { Description = "Caption of clips without one: {label} and the clip's columns in braces are filled in", DefaultValueFactory = _ => ImportOptions.DefaultCaptionTemplate };
        var splits = new Option<string[]>("--splits") { Description = "Official split file(s): 'name,split' lines, or one name per line in a file named *train*/*val*/*test*", AllowMultipleArgumentsPerToken = true };
        var labels = new Option<string?>("--labels") { Description = "CSV of (file name, label) overriding the class folders (Landscape's labels.csv)" };
        var labelBy = new Option<string>("--label-by") { Description = "greatest-hits: material, action or material-action", DefaultValueFactory = _ => "material" };
        var val = new Option<double>("--val") { Description = "Hash split: fraction of clips (groups) in val", DefaultValueFactory = _ => 0.1 };
        var test = new Option<double>("--test") { Description = "Hash split: fraction of clips (groups) in test", DefaultValueFactory = _ => 0.1 };
        var workers = new Option<int>("--workers") { Description = "Clips decoded at once", DefaultValueFactory = _ => Environment.ProcessorCount };
        var max = new Option<int>("--max-problems") { Description = "Problems listed here (all are in OUT/import-report.txt)", DefaultValueFactory = _ => 20 };
        var cmd = new Command("import", "Import a video dataset (landscape, greatest-hits, ravdess, folder): mono 44.1 kHz WAV + PNG frames per clip, captions, splits, manifest.jsonl; resumable");
        cmd.Arguments.Add(kind);
        foreach (var o in new Option[] { src, outDir, frames, frame0, seconds, minSeconds, captions, template, splits, labels, labelBy, val, test, workers, max }) cmd.Options.Add(o);
        cmd.SetAction(pr =>
        {
            var options = new ImportOptions
            {
                Kind = pr.GetValue(kind)!, Source = pr.GetValue(src)!, Output = pr.GetValue(outDir)!, Frames = pr.GetValue(frames),
                Frame0 = pr.GetValue(frame0), Seconds = pr.GetValue(seconds), MinSeconds = pr.GetValue(minSeconds), Captions = pr.GetValue(captions),
                CaptionTemplate = pr.GetValue(template)!, SplitFiles = pr.GetValue(splits) ?? [], Labels = pr.GetValue(labels),
                LabelBy = pr.GetValue(labelBy)!, ValFraction = pr.GetValue(val), TestFraction = pr.GetValue(test), Workers = pr.GetValue(workers),
            };
            var summary = ConsoleProgress.Run(p => DatasetImport.Run(options, p, CliContext.Cancellation));
            foreach (var issue in summary.Issues.Take(pr.GetValue(max))) Console.WriteLine(issue);
            if (summary.Issues.Count > pr.GetValue(max)) Console.WriteLine($"... and {summary.Issues.Count - pr.GetValue(max)} more in {summary.ReportPath}");
            Console.WriteLine($"imported {summary.Describe()} in {summary.Elapsed.TotalSeconds:0.0} s");
            Console.WriteLine($"captions: {summary.CaptionsFromFile} of {summary.Rows} from --captions, the rest from the template");
            Console.WriteLine($"manifest: {summary.ManifestPath}");
            Console.WriteLine($"report: {summary.ReportPath}");
            if (summary.Clips > 0) return 0;
            Console.Error.WriteLine($"error: no clip could be imported from {options.Source} (reasons in {summary.ReportPath})");
            return 1;
        });
        return cmd;
    }
}
