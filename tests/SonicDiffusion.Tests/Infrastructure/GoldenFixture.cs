using System.Text.Json.Nodes;
using SonicDiffusion.IO;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests.Infrastructure;

/// <summary>
/// One parity fixture folder, described by its fixture.json (schema 1; see tests/fixtures/golden/README.md).
/// Tests pick code by <see cref="Kind"/> and each case's op; everything else comes from the file.
/// </summary>
public sealed class GoldenFixture
{
    public string Folder { get; }
    public string Name => System.IO.Path.GetFileName(Folder);
    public JsonObject Json { get; }
    public string Kind => (string)Json["kind"]!;
    public JsonObject Config => Json["config"] as JsonObject ?? new JsonObject();
    public JsonObject? DiffusersConfig => Json["diffusers_config"] as JsonObject;
    public JsonArray Weights => Json["weights"] as JsonArray ?? new JsonArray();
    public string Io => (string?)Json["io"] ?? "io.safetensors";

    private GoldenFixture(string folder)
    {
        Folder = folder;
        Json = JsonNode.Parse(File.ReadAllText(System.IO.Path.Combine(folder, "fixture.json")))!.AsObject();
    }

    /// <summary>Roots searched for fixture folders: tests/fixtures/golden plus any in SONIC_GOLDEN_DIRS (':'-separated).</summary>
    public static IEnumerable<string> Roots()
    {
        yield return RepoPaths.Golden;
        var extra = Environment.GetEnvironmentVariable("SONIC_GOLDEN_DIRS");
        if (!string.IsNullOrEmpty(extra))
            foreach (var r in extra.Split(':', StringSplitOptions.RemoveEmptyEntries)) yield return r;
    }

    private static readonly Lazy<List<GoldenFixture>> _all = new(() => Roots()
        .Where(Directory.Exists)
        .SelectMany(r => Directory.GetDirectories(r))
        .Where(d => File.Exists(System.IO.Path.Combine(d, "fixture.json")))
        .OrderBy(d => d, StringComparer.Ordinal)
        .Select(d => new GoldenFixture(d))
        .ToList());

    public static IReadOnlyList<GoldenFixture> All => _all.Value;

    public static GoldenFixture Get(string name) => All.Single(f => f.Name == name);

    /// <summary>xunit data: one row "folder/case" per case of every fixture of the kind (and op, if given).</summary>
    public static TheoryData<string> CaseIds(string kind, params string[] ops)
    {
        var data = new TheoryData<string>();
        foreach (var f in All.Where(f => f.Kind == kind))
            foreach (var c in f.Cases.Where(c => ops.Length == 0 || ops.Contains(c.Op)))
                data.Add($"{f.Name}/{c.Name}");
        return data;
    }

    public static (GoldenFixture Fixture, FixtureCase Case) Resolve(string id)
    {
        var slash = id.LastIndexOf('/');
        var f = Get(id[..slash]);
        return (f, f.Cases.Single(c => c.Name == id[(slash + 1)..]));
    }

    public IReadOnlyList<FixtureCase> Cases => ((JsonArray)Json["cases"]!).Select(c => new FixtureCase(this, c!.AsObject())).ToList();

    public string PathOf(string file) => System.IO.Path.GetFullPath(System.IO.Path.Combine(Folder, file));

    private readonly Dictionary<string, SafetensorsFile> _open = new();

    public SafetensorsFile Tensors(string? file = null)
    {
        var path = PathOf(file ?? Io);
        lock (_open)
        {
            if (!_open.TryGetValue(path, out var st)) _open[path] = st = SafetensorsFile.Open(path);
            return st;
        }
    }

    /// <summary>The first weights entry whose format is given (null if none).</summary>
    public JsonObject? WeightsEntry(string format) => Weights.Select(w => w!.AsObject()).FirstOrDefault(w => (string?)w["format"] == format);

    public int ConfigInt(string key) => (int)Config[key]!;
    public double ConfigDouble(string key) => (double)Config[key]!;
    public int[] ConfigInts(string key) => ((JsonArray)Config[key]!).Select(x => (int)x!).ToArray();
}

public sealed class FixtureCase
{
    public GoldenFixture Fixture { get; }
    public JsonObject Json { get; }
    public string Name => (string)Json["name"]!;
    public string Op => (string)Json["op"]!;
    public JsonObject Inputs => Json["inputs"] as JsonObject ?? new JsonObject();
    public JsonObject Params => Json["params"] as JsonObject ?? new JsonObject();
    public JsonObject Outputs => Json["outputs"] as JsonObject ?? new JsonObject();
    public JsonObject Debug => Json["debug"] as JsonObject ?? new JsonObject();
    public JsonObject Tolerance => Json["tolerance"] as JsonObject ?? new JsonObject { ["mode"] = "exact" };

    public FixtureCase(GoldenFixture fixture, JsonObject json) { Fixture = fixture; Json = json; }

    public bool HasInput(string role) => Inputs.ContainsKey(role);
    public bool HasOutput(string role) => Outputs.ContainsKey(role);

    public double? Param(string name) => Params[name] is JsonValue v ? (double)v : null;
    public string? ParamString(string name) => Params[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    /// <summary>Loads an input tensor reference (honours "file" and "index"); floats come back as stored (F32/F64).</summary>
    public Tensor Input(string role)
    {
        var r = Inputs[role] as JsonObject ?? throw new InvalidOperationException($"{Fixture.Name}/{Name}: no input role '{role}'");
        var t = Fixture.Tensors((string?)r["file"]).Read((string)r["tensor"]!);
        if (r["index"] is JsonValue iv)
        {
            long k = (long)iv;
            if (k < 0) k += t.shape[0];
            var s = t[k].clone();
            t.Dispose();
            return s;
        }
        return t;
    }

    public string? InputAsset(string role) => Inputs[role] is JsonObject o && o["asset"] is JsonValue a ? Fixture.PathOf((string)a!) : null;

    public Tensor Expected(string role, bool debug = false)
    {
        var r = (debug ? Debug : Outputs)[role] as JsonObject ?? throw new InvalidOperationException($"no role {role}");
        return Fixture.Tensors((string?)r["file"]).Read((string)r["tensor"]!);
    }

    public IEnumerable<string> DebugRoles => Debug.Select(kv => kv.Key);
    public IEnumerable<string> OutputRoles => Outputs.Select(kv => kv.Key);

    /// <summary>Compares an output (or debug) tensor with its expected value; returns null when it passes, else a message.</summary>
    public string? Compare(string role, Tensor actual, bool debug = false)
    {
        var r = ((debug ? Debug : Outputs)[role] as JsonObject)!;
        using var expected = Expected(role, debug);
        var tol = r["tolerance"] as JsonObject ?? Tolerance;
        using var sliced = ApplySlice(actual, r["computed_slice"] as JsonObject);
        return TensorTolerance.Check($"{Fixture.Name}/{Name}:{(debug ? "debug." : "")}{role}", sliced, expected, tol);
    }

    /// <summary>Asserts every output the implementation produced (and every debug tensor) passes.</summary>
    public void AssertAll(IReadOnlyDictionary<string, Tensor> outputs, IReadOnlyDictionary<string, Tensor>? debug = null, bool requireAllOutputs = true)
    {
        var failures = new List<string>();
        foreach (var role in OutputRoles)
        {
            if (!outputs.TryGetValue(role, out var a))
            {
                if (requireAllOutputs) failures.Add($"output '{role}' was not produced");
                continue;
            }
            if (Compare(role, a) is { } msg) failures.Add(msg);
        }
        if (debug != null)
            foreach (var role in DebugRoles)
                if (debug.TryGetValue(role, out var d) && Compare(role, d, debug: true) is { } msg) failures.Add(msg);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static Tensor ApplySlice(Tensor t, JsonObject? slice)
    {
        if (slice == null) return t.alias();
        long dim = (long)slice["dim"]!;
        if (slice["indices"] is JsonArray idx)
        {
            using var index = torch.tensor(idx.Select(x => (long)x!).ToArray(), dtype: ScalarType.Int64);
            return t.index_select(dim, index);
        }
        long start = (long)slice["start"]!, stop = (long)slice["stop"]!;
        return t.narrow(dim, start, stop - start);
    }
}

/// <summary>The tolerance modes of fixture.json: exact, bound, db_bands.</summary>
public static class TensorTolerance
{
    public static string? Check(string label, Tensor actual, Tensor expected, JsonObject tol)
    {
        if (!actual.shape.SequenceEqual(expected.shape))
            return $"{label}: shape [{string.Join(",", actual.shape)}] != expected [{string.Join(",", expected.shape)}]";
        using var a = actual.detach().cpu().to_type(ScalarType.Float64);
        using var e = expected.to_type(ScalarType.Float64);
        if (a.isnan().any().item<bool>()) return $"{label}: NaN in computed tensor";
        string mode = (string?)tol["mode"] ?? "exact";
        using var diff = (a - e).abs();
        switch (mode)
        {
            case "exact":
            {
                long bad = diff.gt(0).sum().item<long>();
                return bad == 0 ? null : $"{label}: {bad} elements differ (max |d| {diff.max().item<double>():g4}), exact match required";
            }
            case "bound":
            {
                double atol = Num(tol, "atol"), rtol = Num(tol, "rtol"), rel = Num(tol, "rel"), floor = Num(tol, "abs_floor");
                bool perItem = (string?)tol["max_scope"] == "item";
                using var m = MaxAbs(e, perItem);
                using var bound = atol + rtol * e.abs() + rel * m.clamp_min(floor);
                using var excess = diff - bound;
                double worst = excess.max().item<double>();
                if (worst <= 0) return null;
                long bad = excess.gt(0).sum().item<long>();
                return $"{label}: {bad}/{diff.numel()} elements out of bound (max |d| {diff.max().item<double>():g4}, max |e| {e.abs().max().item<double>():g4}, tol atol {atol} rtol {rtol} rel {rel})";
            }
            case "db_bands":
            {
                bool perItem = (string?)tol["max_scope"] == "item";
                using var m = perItem ? ItemMax(e) : e.max();
                var bands = (JsonArray)tol["bands"]!;
                using var bound = torch.full_like(e, double.NaN);
                foreach (var band in bands.Select(b => b!.AsObject()))
                {
                    double atol = Num(band, "atol");
                    using var unset = bound.isnan();
                    Tensor inBand;
                    if (band["within_db_of_max"] is JsonValue w) inBand = e.gt(m - (double)w).logical_and(unset);
                    else inBand = unset.clone();
                    using (inBand) bound.masked_fill_(inBand, atol);
                }
                using var excess = diff - bound;
                double worst = excess.max().item<double>();
                if (worst <= 0) return null;
                return $"{label}: {excess.gt(0).sum().item<long>()} elements out of dB band (max |d| {diff.max().item<double>():g4})";
            }
            default:
                return $"{label}: unknown tolerance mode '{mode}'";
        }
    }

    private static double Num(JsonObject o, string k) => o[k] is JsonValue v ? (double)v : 0.0;

    private static Tensor MaxAbs(Tensor e, bool perItem)
    {
        if (!perItem || e.dim() == 0) return e.abs().max();
        return ItemMax(e.abs());
    }

    private static Tensor ItemMax(Tensor e)
    {
        var flat = e.reshape(e.shape[0], -1);
        var m = flat.max(1).values;
        var shape = new long[e.dim()];
        shape[0] = e.shape[0];
        for (int i = 1; i < shape.Length; i++) shape[i] = 1;
        return m.reshape(shape);
    }
}
