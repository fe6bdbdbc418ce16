using System.IO.Compression;
using System.Numerics;
using SonicDiffusion.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.IO;

/// <summary>How the nested dicts of a PyTorch checkpoint become tensor names.</summary>
public enum CheckpointUnwrap
{
    /// <summary>
    /// Find the state dict: while the current dict has no tensor values of its own and has a <c>state_dict</c> entry
    /// (SD v1 <c>.ckpt</c>, Lightning), else a <c>model</c> entry (CLAP_weights_2022.pth), that is a dict holding
    /// tensors, descend into it. Flatten what is found; when every name then starts with <c>module.</c>
    /// (DataParallel), strip it.
    /// </summary>
    Auto,
    /// <summary>Flatten the root object as it is; nothing is unwrapped or stripped.</summary>
    None,
}

/// <summary>
/// A PyTorch zip checkpoint (<c>torch.save</c>, torch &gt;= 1.6: .pt/.pth/.ckpt/.bin) read lazily and safely: the pickle
/// is interpreted by <see cref="SafeUnpickler"/> (nothing is executed; unknown globals are refused) into tensor
/// descriptors, and a tensor's bytes are read from the archive entry <c>&lt;folder&gt;/data/&lt;key&gt;</c> only in
/// <see cref="Read"/>. Storage offsets, strides (transposed, strided and expanded views) and shared storages are honoured;
/// every tensor is returned contiguous.
/// <para>
/// Names: nested dicts (and lists) are flattened with '.' between levels; values that are not tensors (epoch,
/// global_step, hyper-parameters, callback state) are skipped and listed in <see cref="SkippedEntries"/>. See
/// <see cref="CheckpointUnwrap"/> for which dict becomes the root.
/// </para>
/// </summary>
public sealed class TorchCheckpointFile : ITensorSource
{
    private const long MaxPickleBytes = 1L << 30;
    private const int MaxDepth = 64;
    private const int MaxEntries = 1_000_000;
    /// <summary>The name of the one tensor of a file whose root is a bare tensor (<c>torch.save(tensor)</c>).</summary>
    public const string SingleTensorName = "tensor";

    private readonly FileStream _stream;
    private readonly ZipArchive _zip;
    private readonly Dictionary<string, SafeUnpickler.TensorRef> _tensors;
    private readonly Dictionary<string, ZipArchiveEntry> _storages;
    private readonly object _lock = new();

    public string Path { get; }
    public IReadOnlyList<string> Names { get; }
    /// <summary>The dotted path of the dict that was unwrapped to reach the state dict (<c>state_dict</c>, <c>model</c>), or null.</summary>
    public string? Wrapper { get; }
    /// <summary><c>module.</c> when that DataParallel prefix was stripped from every name, else null.</summary>
    public string? StrippedPrefix { get; }
    /// <summary>Dotted names of entries not exposed as tensors: non-tensor values, and the wrapper's sibling entries.</summary>
    public IReadOnlyList<string> SkippedEntries { get; }
    /// <summary>Every global the pickle referenced (all on the allow-list).</summary>
    public IReadOnlyList<string> Globals { get; }
    /// <summary>The archive's top-level folder (e.g. <c>archive</c>, or the file stem for torch &lt; 2).</summary>
    public string ArchiveFolder { get; }

    private TorchCheckpointFile(string path, FileStream stream, ZipArchive zip, string folder, Dictionary<string, SafeUnpickler.TensorRef> tensors,
        List<string> names, Dictionary<string, ZipArchiveEntry> storages, string? wrapper, string? stripped, List<string> skipped, List<string> globals)
    {
        Path = path;
        _stream = stream;
        _zip = zip;
        ArchiveFolder = folder;
        _tensors = tensors;
        Names = names;
        _storages = storages;
        Wrapper = wrapper;
        StrippedPrefix = stripped;
        SkippedEntries = skipped;
        Globals = globals;
    }

    /// <summary>Opens the archive, parses and checks the pickle and the storage entries; reads no tensor data.</summary>
    public static TorchCheckpointFile Open(string path, CheckpointUnwrap unwrap = CheckpointUnwrap.Auto)
    {
        var format = TensorFiles.Detect(path);
        if (format == TensorFileFormat.TorchLegacy) throw TensorFiles.LegacyError(path);
        if (format != TensorFileFormat.TorchZip) throw new SonicException($"{path}: not a PyTorch zip checkpoint (content looks like: {format})");

        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        ZipArchive? zip = null;
        try
        {
            try { zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true); }
            catch (InvalidDataException e) { throw new SonicException($"{path}: the zip container is damaged or truncated ({OneLine(e.Message)})"); }

            var pkl = FindPickle(path, zip);
            string folder = pkl.FullName[..^"/data.pkl".Length];
            CheckByteOrder(path, zip, folder);
            if (pkl.Length > MaxPickleBytes) throw new SonicException($"{path}: {pkl.FullName} is {pkl.Length} bytes, too large for a checkpoint pickle");
            var pickle = ReadEntry(path, pkl);
            bool script = zip.GetEntry($"{folder}/constants.pkl") != null;
            var root = SafeUnpickler.Load(pickle, path, out var globals, scriptObjects: script);
            if (script) root = ScriptState(root);

            var skipped = new List<string>();
            var node = root;
            var wrapperParts = new List<string>();
            if (unwrap == CheckpointUnwrap.Auto) node = Unwrap(root, wrapperParts, skipped);
            if (node is not SafeUnpickler.Dict && node is not SafeUnpickler.TensorRef)
                throw new SonicException($"{path}: the checkpoint holds {Kind(node)}, not a dict of tensors");

            var found = new List<(string Name, SafeUnpickler.TensorRef Tensor)>();
            long visits = 0;
            Flatten(path, node, "", 0, new HashSet<object>(ReferenceEqualityComparer.Instance), found, skipped, ref visits);
            if (node is SafeUnpickler.TensorRef single) found[0] = (SingleTensorName, single);
            string? stripped = null;
            if (unwrap == CheckpointUnwrap.Auto && found.Count > 0 && found.All(f => f.Name.StartsWith("module.", StringComparison.Ordinal)))
            {
                stripped = "module.";
                found = found.Select(f => (f.Name["module.".Length..], f.Tensor)).ToList();
            }
            var tensors = new Dictionary<string, SafeUnpickler.TensorRef>();
            foreach (var (name, t) in found)
                if (!tensors.TryAdd(name, t))
                    throw new SonicException($"{path}: two entries flatten to the same tensor name '{name}'");

            var storages = new Dictionary<string, ZipArchiveEntry>();
            var entries = new Dictionary<string, ZipArchiveEntry>();
            foreach (var e in zip.Entries) entries.TryAdd(e.FullName, e);
            foreach (var (name, t) in found)
            {
                string entryName = $"{folder}/data/{t.Storage.Key}";
                if (!entries.TryGetValue(entryName, out var entry))
                    throw new SonicException($"{path}: tensor '{name}' needs the archive entry '{entryName}', which is missing (incomplete or damaged file)");
                CheckView(path, name, t, entry);
                storages[t.Storage.Key] = entry;
            }
            return new TorchCheckpointFile(path, stream, zip, folder, tensors, found.Select(f => f.Name).ToList(), storages,
                wrapperParts.Count > 0 ? string.Join(".", wrapperParts) : null, stripped, skipped,
                globals.Select(g => g.ToString()).Order(StringComparer.Ordinal).ToList());
        }
        catch
        {
            zip?.Dispose();
            stream.Dispose();
            throw;
        }
    }

    private static ZipArchiveEntry FindPickle(string path, ZipArchive zip)
    {
        List<ZipArchiveEntry> pickles;
        try
        {
            pickles = zip.Entries.Where(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) && e.FullName.Count(c => c == '/') == 1).ToList();
        }
        catch (InvalidDataException e) { throw new SonicException($"{path}: the zip container is damaged or truncated ({OneLine(e.Message)})"); }
        if (pickles.Count == 0) throw new SonicException($"{path}: a zip file without '<folder>/data.pkl', so not a PyTorch checkpoint");
        if (pickles.Count > 1) throw new SonicException($"{path}: the zip file holds {pickles.Count} data.pkl records ({string.Join(", ", pickles.Select(p => p.FullName))}); expected one");
        return pickles[0];
    }

    private static void CheckByteOrder(string path, ZipArchive zip, string folder)
    {
        var e = zip.GetEntry($"{folder}/byteorder");
        if (e == null) return;
        string order = System.Text.Encoding.ASCII.GetString(ReadEntry(path, e)).Trim();
        if (order != "little") throw new SonicException($"{path}: stored with byte order '{order}'; only little-endian checkpoints are read");
    }

    private static byte[] ReadEntry(string path, ZipArchiveEntry entry)
    {
        try
        {
            var buf = new byte[entry.Length];
            using var s = entry.Open();
            s.ReadExactly(buf);
            return buf;
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new SonicException($"{path}: cannot read '{entry.FullName}' ({OneLine(e.Message)}); the file is damaged or truncated");
        }
    }

    private static object? Unwrap(object? root, List<string> wrapperParts, List<string> skipped)
    {
        var node = root;
        while (node is SafeUnpickler.Dict d && wrapperParts.Count < 4)
        {
            if (d.Items.Any(kv => kv.Value is SafeUnpickler.TensorRef)) break;
            string? key = null;
            SafeUnpickler.Dict? inner = null;
            foreach (var candidate in new[] { "state_dict", "model" })
                if (d.TryGet(candidate, out var v) && v is SafeUnpickler.Dict vd && HoldsTensor(vd, 0))
                {
                    key = candidate;
                    inner = vd;
                    break;
                }
            if (inner == null) break;
            string prefix = wrapperParts.Count > 0 ? string.Join(".", wrapperParts) + "." : "";
            foreach (var kv in d.Items)
                if (!(kv.Key is string s && s == key)) skipped.Add(prefix + KeyName(kv.Key));
            wrapperParts.Add(key!);
            node = inner;
        }
        return node;
    }

    /// <summary>A TorchScript archive's root module object → its attribute dict (submodules stay objects, flattened by name).</summary>
    private static object? ScriptState(object? root) =>
        root is SafeUnpickler.Inert { State: SafeUnpickler.Dict d } i && SafeUnpickler.IsScriptClass(i.Type) ? d : root;

    private static bool HoldsTensor(object? root, int depth)
    {
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        bool Visit(object? node, int d)
        {
            if (d > MaxDepth || node == null || (node is not SafeUnpickler.TensorRef && !seen.Add(node))) return false;
            return node switch
            {
                SafeUnpickler.TensorRef => true,
                SafeUnpickler.Dict dict => dict.Items.Any(kv => Visit(kv.Value, d + 1)),
                List<object?> l => l.Any(x => Visit(x, d + 1)),
                object?[] t => t.Any(x => Visit(x, d + 1)),
                _ => false,
            };
        }
        return Visit(root, depth);
    }

    private static void Flatten(string path, object? node, string name, int depth, HashSet<object> onPath,
        List<(string, SafeUnpickler.TensorRef)> found, List<string> skipped, ref long visits)
    {
        if (depth > MaxDepth) throw new SonicException($"{path}: entry '{name}' is nested more than {MaxDepth} levels deep");
        if (++visits > MaxEntries) throw new SonicException($"{path}: more than {MaxEntries} entries; not a checkpoint this reader accepts");
        switch (node)
        {
            case SafeUnpickler.TensorRef t:
                found.Add((name, t));
                return;
            case SafeUnpickler.Inert { State: SafeUnpickler.Dict } i when SafeUnpickler.IsScriptClass(i.Type):
                Flatten(path, i.State, name, depth, onPath, found, skipped, ref visits);
                return;
            case SafeUnpickler.Dict d:
                if (!onPath.Add(d)) return;
                foreach (var kv in d.Items) Flatten(path, kv.Value, Join(name, KeyName(kv.Key)), depth + 1, onPath, found, skipped, ref visits);
                onPath.Remove(d);
                return;
            case List<object?> l:
                if (!onPath.Add(l)) return;
                for (int i = 0; i < l.Count; i++) Flatten(path, l[i], Join(name, i.ToString(System.Globalization.CultureInfo.InvariantCulture)), depth + 1, onPath, found, skipped, ref visits);
                onPath.Remove(l);
                return;
            case object?[] tuple:
                if (!onPath.Add(tuple)) return;
                for (int i = 0; i < tuple.Length; i++) Flatten(path, tuple[i], Join(name, i.ToString(System.Globalization.CultureInfo.InvariantCulture)), depth + 1, onPath, found, skipped, ref visits);
                onPath.Remove(tuple);
                return;
            default:
                skipped.Add(name);
                return;
        }
    }

    private static string Join(string prefix, string key) => prefix.Length == 0 ? key : prefix + "." + key;

    private static string KeyName(object? key) => key switch
    {
        null => "None",
        string s => s,
        long l => l.ToString(System.Globalization.CultureInfo.InvariantCulture),
        BigInteger b => b.ToString(System.Globalization.CultureInfo.InvariantCulture),
        bool b => b ? "True" : "False",
        double d => d.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        object?[] t => "(" + string.Join(", ", t.Select(KeyName)) + ")",
        _ => key.ToString() ?? "?",
    };

    private static string Kind(object? v) => v switch
    {
        null => "None",
        SafeUnpickler.Inert i => $"a {i.Type} object",
        List<object?> => "a list",
        object?[] => "a tuple",
        string => "a string",
        _ => "a " + v.GetType().Name,
    };

    /// <summary>Checks that the strided view lies inside its storage and that the storage entry is long enough.</summary>
    private static void CheckView(string path, string name, SafeUnpickler.TensorRef t, ZipArchiveEntry entry)
    {
        var s = t.Storage;
        if (t.Size.Length != t.Stride.Length)
            throw new SonicException($"{path}: tensor '{name}' has {t.Size.Length} sizes but {t.Stride.Length} strides");
        if (t.StorageOffset < 0 || t.Size.Any(x => x < 0) || t.Stride.Any(x => x < 0))
            throw new SonicException($"{path}: tensor '{name}' has a negative size, stride or storage offset");
        int es = SafetensorsFile.ElementSize(s.SafetensorsDType);
        long extent;
        try
        {
            checked
            {
                long numel = t.NumElements;
                extent = numel == 0 ? 0 : 1 + t.Size.Zip(t.Stride, (n, st) => (n - 1) * st).Sum();
                if (numel > 0 && t.StorageOffset + extent > s.NumElements)
                    throw new SonicException($"{path}: tensor '{name}' (offset {t.StorageOffset}, size [{string.Join(",", t.Size)}], stride [{string.Join(",", t.Stride)}]) reaches past the end of its storage '{s.Key}' of {s.NumElements} elements");
                long need = s.NumElements * es;
                if (entry.Length < need)
                    throw new SonicException($"{path}: storage entry '{entry.FullName}' holds {entry.Length} bytes but tensor '{name}' needs a storage of {need} bytes (file truncated or damaged)");
            }
        }
        catch (OverflowException)
        {
            throw new SonicException($"{path}: tensor '{name}' has sizes or strides too large to address");
        }
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    public TensorInfo Info(string name) => _tensors.TryGetValue(name, out var t)
        ? new TensorInfo(t.Storage.SafetensorsDType, (long[])t.Size.Clone())
        : throw new SonicException($"{Path}: no tensor named '{name}'");

    /// <summary>Reads one tensor (contiguous, CPU); floating-point tensors are converted to <paramref name="floatDtype"/> when given.</summary>
    public Tensor Read(string name, ScalarType? floatDtype = null)
    {
        if (!_tensors.TryGetValue(name, out var t)) throw new SonicException($"{Path}: no tensor named '{name}'");
        var s = t.Storage;
        Tensor result;
        if (t.NumElements == 0)
        {
            result = torch.empty(t.Size, s.DType);
        }
        else
        {
            long extent = 1 + t.Size.Zip(t.Stride, (n, st) => (n - 1) * st).Sum();
            int es = SafetensorsFile.ElementSize(s.SafetensorsDType);
            using var storage = torch.empty(new[] { extent }, s.DType);
            lock (_lock) ReadStorageSpan(name, _storages[s.Key], t.StorageOffset * es, storage);
            using var view = storage.as_strided(t.Size, t.Stride, 0);
            result = view.contiguous();
        }
        if (floatDtype is { } target && target != s.DType && torch.is_floating_point(result))
        {
            var c = result.to_type(target);
            result.Dispose();
            return c;
        }
        return result;
    }

    private void ReadStorageSpan(string name, ZipArchiveEntry entry, long byteOffset, Tensor into)
    {
        try
        {
            using var s = entry.Open();
            if (s.CanSeek) s.Seek(byteOffset, SeekOrigin.Begin);
            else Skip(s, byteOffset);
            long total = into.NumberOfElements;
            long chunk = Math.Max(1, (1L << 30) / into.ElementSize);
            for (long start = 0; start < total; start += chunk)
            {
                using var part = into.narrow(0, start, Math.Min(chunk, total - start));
                s.ReadExactly(part.bytes);
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or IOException)
        {
            throw new SonicException($"{Path}: cannot read tensor '{name}' from '{entry.FullName}' ({OneLine(e.Message)}); the file is damaged or truncated");
        }
    }

    private static void Skip(Stream s, long count)
    {
        var buf = new byte[Math.Min(count, 1 << 20)];
        while (count > 0)
        {
            int n = s.Read(buf, 0, (int)Math.Min(buf.Length, count));
            if (n == 0) throw new EndOfStreamException("storage entry ends early");
            count -= n;
        }
    }

    private static string OneLine(string s) => s.Replace('\r', ' ').Replace('\n', ' ');

    public void Dispose()
    {
        _zip.Dispose();
        _stream.Dispose();
    }
}
