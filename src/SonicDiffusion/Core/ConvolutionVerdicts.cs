using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Core;

/// <summary>
/// A verdict per convolution shape: the first time a model's convolution runs a shape (weights, input size, stride,
/// padding, dtype) with oneDNN on, its output is checked against float64 — on the first and last batch element, a
/// spread of output channels and 12 output rows (first, middle, last), also after a second run of the same kernel (oneDNN's wrong kernels went NaN only from their
/// second call) — and the verdict is cached per CPU model, flags, libtorch version and oneDNN ISA setting in
/// <see cref="Folder"/>. A shape oneDNN got wrong runs through ATen's own kernels, for that layer only, from then on
/// (its first output is recomputed so). Measured on an AMD EPYC (Zen 5): a CLAP CNN14 with narrow blocks was wrong
/// from its second block on with oneDNN capped at AVX2 and uncapped alike (docs/benchmarks.md).
/// </summary>
public static class ConvolutionVerdicts
{
    /// <summary>Output channels checked at most (first, last and a spread between); all of them for grouped convolutions.</summary>
    public const int CheckedChannels = 48;

    private static readonly Lock Gate = new();
    private static readonly JsonSerializerOptions Json = new(ConfigJson.Options) { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };
    private static ConcurrentDictionary<string, ConvolutionVerdict>? _verdicts;
    private static string? _folder;

    /// <summary>Raised after each new verdict (from the thread that ran the convolution).</summary>
    public static event Action<ConvolutionVerdict>? Checked;

    /// <summary>Where verdict files live: <c>$SONIC_CACHE/kernel-verdicts</c>, else <c>~/.cache/sonicdiffusion/kernel-verdicts</c>.</summary>
    public static string Folder
    {
        get
        {
            lock (Gate)
                return _folder ??= UserCache.Folder("kernel-verdicts");
        }
        set
        {
            lock (Gate)
            {
                _folder = Path.GetFullPath(value);
                _verdicts = null;
            }
        }
    }

    /// <summary>What the verdicts are keyed by, besides the shape (which includes the dtype).</summary>
    public static string Machine
    {
        get
        {
            var cpu = Diagnostics.CpuInfo.Current;
            string flags = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join(' ', cpu.Flags.Order(StringComparer.Ordinal)))))[..12];
            return $"{cpu.ModelName}; flags {flags}; libtorch {torch.__version__}; oneDNN ISA {CpuKernels.OneDnnIsa ?? "default"}";
        }
    }

    /// <summary>The verdict file of this machine.</summary>
    public static string FilePath => Path.Combine(Folder, Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(Machine)))[..16].ToLowerInvariant() + ".json");

    /// <summary>Every verdict known for this machine, checked shapes first by dtype.</summary>
    public static IReadOnlyList<ConvolutionVerdict> All => [.. Store().Values.OrderBy(v => v.Shape, StringComparer.Ordinal)];

    /// <summary>The verdict for a shape, or null when it was never checked here.</summary>
    public static ConvolutionVerdict? Find(string shape) => Store().TryGetValue(shape, out var v) ? v : null;

    /// <summary>
    /// Routes every Conv1d/Conv2d/ConvTranspose1d/ConvTranspose2d of <paramref name="model"/> by its shape's verdict: unchecked shapes are checked on
    /// their first call, wrong ones run with oneDNN off. Does nothing while oneDNN is off, while autograd records the
    /// call (<see cref="CpuKernels.GuardAutogradConvolutions"/> owns that) or when <see cref="CpuKernels.OneDnnVariable"/>=1.
    /// </summary>
    public static void Route(nn.Module model)
    {
        foreach (var (_, module) in model.named_modules())
        {
            if (module is not (Conv1d or Conv2d or ConvTranspose1d or ConvTranspose2d)) continue;
            var conv = (Convolution)module;
            conv.register_forward_pre_hook((_, x) =>
            {
                if (Active(conv, x))
                {
                    string shape = ShapeOf(conv, x);
                    var verdict = Find(shape);
                    (_calls ??= new()).Push(new Call(conv, shape, x, verdict is { OneDnnRight: false } ? CpuKernels.OneDnnOff() : null));
                }
                return x;
            });
            conv.register_forward_hook((_, _, y) =>
            {
                if (_calls is not { Count: > 0 } calls || !ReferenceEquals(calls.Peek().Conv, conv)) return y;
                var call = calls.Pop();
                if (call.Off is { } off)
                {
                    off.Dispose();
                    return y;
                }
                var verdict = Find(call.Shape) ?? Judge(conv, call.Shape, call.Input, y);
                if (verdict.OneDnnRight) return y;
                using var aten = CpuKernels.OneDnnOff();
                return conv.forward(Cast(conv, call.Input));
            });
        }
    }

    /// <summary>A convolution call between its pre-hook and its hook: the input as it came, and oneDNN's off-switch when the verdict said wrong.</summary>
    private sealed record Call(Convolution Conv, string Shape, Tensor Input, IDisposable? Off);

    [ThreadStatic] private static Stack<Call>? _calls;

    /// <summary>Float32 and bfloat16 on the CPU are what oneDNN computes; float64 always runs on ATen's kernels.</summary>
    private static bool Active(Convolution conv, Tensor x) =>
        conv.weight!.device_type == DeviceType.CPU && conv.weight.dtype is (ScalarType.Float32 or ScalarType.BFloat16)
        && !CpuKernels.UserChoseOneDnn && CpuKernels.OneDnn == true
        && !(is_grad_enabled() && (x.requires_grad || conv.weight.requires_grad));

    /// <summary>The input as the convolution computes it (a float32 layer under bfloat16 casts its input first).</summary>
    private static Tensor Cast(Convolution conv, Tensor x) => x.dtype == conv.weight!.dtype ? x : x.to(conv.weight.dtype);

    /// <summary>The verdict key: channels, kernel, stride, padding, dilation, groups, input size, batch and dtype.</summary>
    public static string ShapeOf(Convolution conv, Tensor x)
    {
        var w = conv.weight!;
        static string Join(IEnumerable<long>? v) => v is null ? "same" : string.Join("×", v);
        long ins = conv.transposed ? w.shape[0] : w.shape[1] * conv.groups, outs = conv.transposed ? w.shape[1] * conv.groups : w.shape[0];
        string extra = conv.transposed && conv.output_padding.Any(p => p != 0) ? $" op{Join(conv.output_padding)}" : "";
        return $"{w.shape.Length - 2}d{(conv.transposed ? " transposed" : "")} {ins}→{outs}{(conv.groups == 1 ? "" : $" g{conv.groups}")} k{Join(w.shape.Skip(2))} " +
               $"s{Join(conv.stride)} p{Join(conv.padding)}{extra}{(conv.dilation.All(d => d == 1) ? "" : $" d{Join(conv.dilation)}")} " +
               $"on {Join(x.shape.Skip(2))} batch {x.shape[0]} {w.dtype.ToString().ToLowerInvariant()}";
    }

    /// <summary>Largest error, relative to the largest float64 output, that oneDNN may show in each dtype.</summary>
    public static double Tolerance(ScalarType dtype) => dtype == ScalarType.BFloat16 ? 3e-2 : 1e-4;

    private static ConvolutionVerdict Judge(Convolution conv, string shape, Tensor input, Tensor output)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var x = Cast(conv, input);
        var again = conv.forward(x);
        double error = Math.Max(Error(conv, x, output), Error(conv, x, again));
        var verdict = new ConvolutionVerdict(shape, error <= Tolerance(conv.weight!.dtype), error, sw.Elapsed.TotalMilliseconds, DateTime.UtcNow);
        Record(verdict);
        Checked?.Invoke(verdict);
        return verdict;
    }

    /// <summary>
    /// Worst |actual − float64| over the largest |float64| (∞ when not finite) on the checked batch elements, output
    /// channels and output rows (<see cref="Rows"/>): the float64 reference is computed from just the input rows those need.
    /// </summary>
    private static double Error(Convolution conv, Tensor x, Tensor actual)
    {
        var w = conv.weight!;
        if (conv.transposed) return TransposedError(conv, x, actual);
        long batch = x.shape[0], outs = w.shape[0];
        var elements = tensor(batch == 1 ? new[] { 0L } : new[] { 0L, batch - 1 });
        var channels = tensor(conv.groups == 1 ? Channels(outs) : Enumerable.Range(0, (int)outs).Select(c => (long)c).ToArray());
        bool oneD = w.shape.Length == 3;
        Tensor As2d(Tensor t) => oneD ? t.unsqueeze(2) : t;
        long[] Pair(long[] v, long oneDValue) => oneD ? [oneDValue, v[0]] : v;
        long[] stride = Pair(conv.stride, 1), padding = Pair(conv.padding!, 0), dilation = Pair(conv.dilation, 1);
        var input = As2d(x.index_select(0, elements)).to(ScalarType.Float64);
        var weight = As2d(conv.groups == 1 ? w.index_select(0, channels) : w).to(ScalarType.Float64);
        var bias = conv.bias is { } b ? (conv.groups == 1 ? b.index_select(0, channels) : b).to(ScalarType.Float64) : null;
        var got = As2d(actual.index_select(0, elements).index_select(1, channels)).to(ScalarType.Float64);
        if (!got.isfinite().all().item<bool>()) return double.PositiveInfinity;
        long height = input.shape[2], kernel = weight.shape[2];
        double err = 0, scale = 0;
        foreach (var (first, count) in Rows(got.shape[2]))
        {
            long from = first * stride[0] - padding[0], to = (first + count - 1) * stride[0] - padding[0] + (kernel - 1) * dilation[0] + 1;
            long lo = Math.Max(0, from), hi = Math.Min(height, to);
            var rows = nn.functional.pad(input.narrow(2, lo, hi - lo), [0, 0, lo - from, to - hi]);
            var expected = nn.functional.conv2d(rows, weight, bias, strides: stride, padding: [0, padding[1]], dilation: dilation, groups: conv.groups);
            if (conv.groups != 1) expected = expected.index_select(1, channels);
            err = Math.Max(err, (got.narrow(2, first, count) - expected).abs().max().item<double>());
            scale = Math.Max(scale, expected.abs().max().item<double>());
        }
        return scale > 0 ? err / scale : err;
    }

    /// <summary>As <see cref="Error"/> for a transposed convolution, against a float64 reference over the whole map.</summary>
    private static double TransposedError(Convolution conv, Tensor x, Tensor actual)
    {
        var w = conv.weight!;
        long batch = x.shape[0];
        var elements = tensor(batch == 1 ? new[] { 0L } : new[] { 0L, batch - 1 });
        var channels = tensor(Channels(actual.shape[1]));
        bool oneD = w.shape.Length == 3;
        Tensor As2d(Tensor t) => oneD ? t.unsqueeze(2) : t;
        long[] Pair(long[] v, long oneDValue) => oneD ? [oneDValue, v[0]] : v;
        var expected = nn.functional.conv_transpose2d(As2d(x.index_select(0, elements)).to(ScalarType.Float64), As2d(w).to(ScalarType.Float64),
            conv.bias?.to(ScalarType.Float64), Pair(conv.stride, 1), Pair(conv.padding!, 0), Pair(conv.output_padding, 0), Pair(conv.dilation, 1), conv.groups)
            .index_select(1, channels);
        var got = As2d(actual.index_select(0, elements).index_select(1, channels)).to(ScalarType.Float64);
        if (!got.isfinite().all().item<bool>()) return double.PositiveInfinity;
        double scale = expected.abs().max().item<double>(), err = (got - expected).abs().max().item<double>();
        return scale > 0 ? err / scale : err;
    }

    /// <summary>Output rows checked: the first and last 4 and 4 in the middle (all of them on maps up to 12 rows high).</summary>
    private static IEnumerable<(long First, long Count)> Rows(long height)
    {
        if (height <= 12) return [(0, height)];
        return [(0, 4), (height / 2 - 2, 4), (height - 4, 4)];
    }

    /// <summary>Up to <see cref="CheckedChannels"/> output channels: the first and last 16 and an even spread between.</summary>
    private static long[] Channels(long outs)
    {
        if (outs <= CheckedChannels) return [.. Enumerable.Range(0, (int)outs).Select(c => (long)c)];
        var picked = new SortedSet<long>();
        for (long c = 0; c < 16; c++) { picked.Add(c); picked.Add(outs - 1 - c); }
        int between = CheckedChannels - 32;
        for (int i = 1; i <= between; i++) picked.Add(16 + (outs - 32) * i / (between + 1));
        return [.. picked];
    }

    private static ConcurrentDictionary<string, ConvolutionVerdict> Store()
    {
        lock (Gate)
            return _verdicts ??= new(Read(FilePath), StringComparer.Ordinal);
    }

    private static Dictionary<string, ConvolutionVerdict> Read(string path)
    {
        if (!File.Exists(path)) return [];
        try
        {
            var file = JsonSerializer.Deserialize<VerdictFile>(File.ReadAllText(path), Json);
            return file?.Verdicts?.Where(v => v.Shape is { Length: > 0 }).ToDictionary(v => v.Shape, StringComparer.Ordinal) ?? [];
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"warning: {path}: unreadable kernel verdicts ({e.Message.Split('\n')[0]}); checking the convolutions again");
            return [];
        }
    }

    /// <summary>Adds a verdict and rewrites the machine's file (merged with what other processes wrote meanwhile).</summary>
    private static void Record(ConvolutionVerdict verdict)
    {
        var store = Store();
        store[verdict.Shape] = verdict;
        lock (Gate)
        {
            string path = FilePath;
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                foreach (var (shape, v) in Read(path)) store.TryAdd(shape, v);
                var file = new VerdictFile(Machine, [.. store.Values.OrderBy(v => v.Shape, StringComparer.Ordinal)]);
                string tmp = $"{path}.{Environment.ProcessId}.tmp";
                File.WriteAllText(tmp, JsonSerializer.Serialize(file, Json));
                File.Move(tmp, path, overwrite: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"warning: {path}: cannot save kernel verdicts ({e.Message}); they hold for this process only");
            }
        }
    }

    /// <summary>Forgets this machine's verdicts (memory and file), so every shape is checked again.</summary>
    public static void Clear()
    {
        lock (Gate)
        {
            _verdicts = new(StringComparer.Ordinal);
            if (File.Exists(FilePath)) File.Delete(FilePath);
        }
    }

    /// <summary>One line for `sonic info`: how many shapes were checked and which oneDNN got wrong.</summary>
    public static string Describe()
    {
        var all = All;
        if (all.Count == 0) return $"none checked yet ({FilePath})";
        var wrong = all.Where(v => !v.OneDnnRight).ToList();
        return string.Create(CultureInfo.InvariantCulture,
            $"{all.Count} convolution shapes checked, {wrong.Count} run through ATen (oneDNN off by more than the tolerance) ({FilePath})");
    }

    private sealed record VerdictFile(string Machine, List<ConvolutionVerdict> Verdicts);
}
