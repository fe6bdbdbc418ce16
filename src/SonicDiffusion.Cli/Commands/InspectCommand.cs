using System.CommandLine;
using SonicDiffusion.IO;

namespace SonicDiffusion.Cli.Commands;

/// <summary>`sonic inspect FILE|DIR`: tensors, dtypes, shapes, parameter totals, detected kind and inferred config.</summary>
public static class InspectCommand
{
    public static Command Create()
    {
        var path = new Argument<string>("path") { Description = "A weights file (.safetensors, .pt, .pth, .ckpt, .bin) or a model folder" };
        var all = new Option<bool>("--tensors") { Description = "List every tensor (default: the first 20 per component)" };
        var cmd = new Command("inspect", "Show what a checkpoint or model folder holds") { path, all };
        cmd.SetAction(pr =>
        {
            var target = pr.GetValue(path)!;
            var report = CheckpointInspector.Inspect(target);
            Console.WriteLine($"{report.Path}{(report.IsFolder ? " (folder" + (report.PipelineClass is null ? ")" : $", {report.PipelineClass})") : "")}");
            foreach (var note in report.Notes) Console.WriteLine($"note: {note}");
            foreach (var c in report.Components)
            {
                Console.WriteLine();
                Console.WriteLine($"[{c.Component ?? Path.GetFileName(c.File)}] {c.File}");
                Console.WriteLine($"  format {c.Format}, kind {c.Kind}, naming {c.Naming ?? "unknown"}{(c.Wrapper is null ? "" : $", wrapper '{c.Wrapper}'")}{(c.AudioAdapterTensors > 0 ? $", {c.AudioAdapterTensors} audio-adapter tensors" : "")}");
                Console.WriteLine($"  {c.Tensors.Count} tensors, {c.TotalElements:N0} elements, {c.TotalBytes / 1048576.0:0.0} MiB stored");
                foreach (var t in c.Totals) Console.WriteLine($"    {t.DType,-5} {t.Tensors,6} tensors {t.Elements,16:N0} elements");
                foreach (var s in c.SkippedEntries.Take(10)) Console.WriteLine($"  skipped non-tensor entry: {s}");
                int shown = pr.GetValue(all) ? c.Tensors.Count : Math.Min(20, c.Tensors.Count);
                int width = c.Tensors.Take(shown).Select(t => t.Name.Length).DefaultIfEmpty(0).Max();
                foreach (var t in c.Tensors.Take(shown)) Console.WriteLine($"  {t.Name.PadRight(width)}  {t.DType,-4} [{string.Join(", ", t.Shape)}]");
                if (shown < c.Tensors.Count) Console.WriteLine($"  ... {c.Tensors.Count - shown} more (--tensors lists all)");
                using var src = TensorFiles.Open(c.File);
                foreach (var inferred in ConfigInference.Infer(src, c.Kind))
                {
                    Console.WriteLine($"  inferred {inferred.Component} config from tensor shapes ({inferred.Note}):");
                    foreach (var line in inferred.Json.Split('\n')) Console.WriteLine("    " + line.TrimEnd());
                }
            }
            return 0;
        });
        return cmd;
    }
}
