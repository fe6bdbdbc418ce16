using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using SonicDiffusion.Core;
using static TorchSharp.torch;

namespace SonicDiffusion.IO;

/// <summary>
/// A pickle reader for PyTorch checkpoints that never executes anything. It interprets the opcodes itself and
/// builds plain values: <see cref="Dict"/>, <see cref="List{T}"/> of objects, <c>object?[]</c> (tuples), strings,
/// <see cref="long"/>, <see cref="BigInteger"/>, <see cref="double"/>, <see cref="bool"/>, <c>byte[]</c>, null,
/// <see cref="TensorRef"/> (a tensor's storage, offset, size and stride; no data), and <see cref="Inert"/> placeholders.
/// <para>
/// Globals are resolved against a fixed allow-list; every other global is refused with a <see cref="SonicException"/>
/// as soon as the GLOBAL opcode is met, before anything could use it:
/// <list type="bullet">
/// <item>tensor rebuilders: <c>torch._utils._rebuild_tensor_v2</c>, <c>_rebuild_tensor</c>, <c>_rebuild_parameter</c>,
/// <c>_rebuild_parameter_with_state</c>, <c>torch._tensor._rebuild_from_type_v2</c> (only with type <c>torch.Tensor</c>
/// or <c>torch.nn.parameter.Parameter</c>);</item>
/// <item>containers: <c>collections.OrderedDict</c>; <c>builtins.set</c> / <c>frozenset</c> (read as lists);</item>
/// <item>storage types, only inside a storage persistent id: <c>torch.{Double,Float,Half,BFloat16,Long,Int,Short,Char,
/// Byte,Bool}Storage</c>; type markers <c>torch.Tensor</c>, <c>torch.nn.parameter.Parameter</c>;
/// <c>torch.device</c> (read as its argument string);</item>
/// <item>inert placeholders, for wrapper objects found next to the weights in real checkpoints; they are recorded by
/// name with their arguments and state, never constructed, and hold no tensors the reader exposes:
/// <c>pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint</c> and its Lightning 2 name
/// <c>lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint</c> (the <c>callbacks</c> entry of SD v1
/// <c>.ckpt</c> files, keyed by the class), <c>numpy.core.multiarray.scalar</c> / <c>numpy._core.multiarray.scalar</c>,
/// <c>numpy.dtype</c> and <c>_codecs.encode</c> (the numpy scalars in that callback state, e.g. best_model_score;
/// protocol 2 spells their bytes as <c>_codecs.encode(str, 'latin1')</c>), <c>argparse.Namespace</c> (Lightning
/// hyper-parameters).</item>
/// </list>
/// With <c>scriptObjects</c> (TorchScript archives: <c>torch.jit.save</c>, the OpenAI CLIP release) a global in the
/// <c>__torch__</c> namespace (a scripted module class) is read as an <see cref="Inert"/> whose <see cref="Inert.State"/>
/// is the module's attribute dict; its code (the archive's <c>code/</c> files) is never read or run.
/// Python-2 module spellings that protocol 2 writes (<c>__builtin__</c>, <c>copy_reg</c>, <c>commands</c>) are read as
/// Python 3 reads them. Every malformed input (bad opcode, stack underflow, truncated data) is a <see cref="SonicException"/>.
/// </para>
/// </summary>
public sealed class SafeUnpickler
{
    /// <summary>An ordered Python dict (also OrderedDict). Keys are strings, numbers, tuples, globals or null.</summary>
    public sealed class Dict
    {
        private readonly List<KeyValuePair<object?, object?>> _items = new();
        private readonly Dictionary<object, int> _index = new();
        public IReadOnlyList<KeyValuePair<object?, object?>> Items => _items;
        public int Count => _items.Count;

        public void Set(object? key, object? value)
        {
            var k = key ?? NullKey.Instance;
            if (k is object?[]) { _items.Add(new(key, value)); return; }
            if (_index.TryGetValue(k, out int i)) _items[i] = new(key, value);
            else { _index[k] = _items.Count; _items.Add(new(key, value)); }
        }

        public bool TryGet(string key, out object? value)
        {
            if (_index.TryGetValue(key, out int i)) { value = _items[i].Value; return true; }
            value = null;
            return false;
        }

        private sealed class NullKey { public static readonly NullKey Instance = new(); }
    }

    /// <summary>A global reference <c>module.name</c>; as a value it is only ever a marker (a storage or tensor type, a class used as a dict key).</summary>
    public sealed record Global(string Module, string Name)
    {
        public override string ToString() => $"{Module}.{Name}";
    }

    /// <summary>An inert placeholder for an allowed wrapper object: its class, the arguments it was called with, and its state.</summary>
    public sealed class Inert
    {
        public Inert(Global type, object? args) { Type = type; Args = args; }
        public Global Type { get; }
        public object? Args { get; }
        public object? State { get; set; }
        public override string ToString() => $"<{Type}>";
    }

    /// <summary>One storage of a checkpoint: the zip entry <c>data/&lt;Key&gt;</c>, holding <see cref="NumElements"/> values of <see cref="DType"/>.</summary>
    public sealed record StorageRef(string Key, ScalarType DType, string SafetensorsDType, string Location, long NumElements);

    /// <summary>A tensor as the pickle describes it: a strided view (in elements) of a storage. No data is read.</summary>
    public sealed record TensorRef(StorageRef Storage, long StorageOffset, long[] Size, long[] Stride)
    {
        public long NumElements => Size.Aggregate(1L, (a, b) => checked(a * b));
    }

    private static readonly Dictionary<string, (ScalarType Type, string Name)> StorageTypes = new()
    {
        ["DoubleStorage"] = (ScalarType.Float64, "F64"),
        ["FloatStorage"] = (ScalarType.Float32, "F32"),
        ["HalfStorage"] = (ScalarType.Float16, "F16"),
        ["BFloat16Storage"] = (ScalarType.BFloat16, "BF16"),
        ["LongStorage"] = (ScalarType.Int64, "I64"),
        ["IntStorage"] = (ScalarType.Int32, "I32"),
        ["ShortStorage"] = (ScalarType.Int16, "I16"),
        ["CharStorage"] = (ScalarType.Int8, "I8"),
        ["ByteStorage"] = (ScalarType.Byte, "U8"),
        ["BoolStorage"] = (ScalarType.Bool, "BOOL"),
    };

    private enum Role { RebuildTensorV2, RebuildTensor, RebuildParameter, RebuildParameterWithState, RebuildFromTypeV2, OrderedDict, Set, Device, StorageType, TypeMarker, Inert }

    private static readonly Dictionary<string, Role> Allowed = BuildAllowList();

    private static Dictionary<string, Role> BuildAllowList()
    {
        var d = new Dictionary<string, Role>
        {
            ["torch._utils._rebuild_tensor_v2"] = Role.RebuildTensorV2,
            ["torch._utils._rebuild_tensor"] = Role.RebuildTensor,
            ["torch._utils._rebuild_parameter"] = Role.RebuildParameter,
            ["torch._utils._rebuild_parameter_with_state"] = Role.RebuildParameterWithState,
            ["torch._tensor._rebuild_from_type_v2"] = Role.RebuildFromTypeV2,
            ["collections.OrderedDict"] = Role.OrderedDict,
            ["builtins.set"] = Role.Set,
            ["builtins.frozenset"] = Role.Set,
            ["torch.device"] = Role.Device,
            ["torch.Tensor"] = Role.TypeMarker,
            ["torch.nn.parameter.Parameter"] = Role.TypeMarker,
            ["pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint"] = Role.Inert,
            ["lightning.pytorch.callbacks.model_checkpoint.ModelCheckpoint"] = Role.Inert,
            ["numpy.core.multiarray.scalar"] = Role.Inert,
            ["numpy._core.multiarray.scalar"] = Role.Inert,
            ["numpy.dtype"] = Role.Inert,
            ["_codecs.encode"] = Role.Inert,
            ["argparse.Namespace"] = Role.Inert,
        };
        foreach (var s in StorageTypes.Keys) d["torch." + s] = Role.StorageType;
        return d;
    }

    private static readonly Dictionary<string, string> Python2Modules = new()
    {
        ["__builtin__"] = "builtins",
        ["copy_reg"] = "copyreg",
        ["commands"] = "subprocess",
        ["cPickle"] = "pickle",
        ["exceptions"] = "builtins",
    };

    private const long MaxCollectionItems = 100_000_000;

    private readonly byte[] _data;
    private readonly string _file;
    private int _pos;
    private readonly List<object?> _stack = new();
    private readonly List<int> _marks = new();
    private readonly Dictionary<long, object?> _memo = new();
    private readonly HashSet<Global> _globalsSeen = new();

    private readonly bool _scriptObjects;

    private SafeUnpickler(byte[] data, string file, bool scriptObjects)
    {
        _data = data;
        _file = file;
        _scriptObjects = scriptObjects;
    }

    /// <summary>True for a TorchScript class name (<c>__torch__.…</c>), read only as attribute holders.</summary>
    public static bool IsScriptClass(Global g) => g.Module == "__torch__" || g.Module.StartsWith("__torch__.", StringComparison.Ordinal);

    /// <summary>The globals the last pickle referenced (all allowed).</summary>
    public IReadOnlyCollection<Global> GlobalsSeen => _globalsSeen;

    /// <summary>Parses a torch checkpoint pickle. <paramref name="file"/> is used in error messages only.</summary>
    public static object? Load(byte[] pickle, string file) => Load(pickle, file, out _);

    public static object? Load(byte[] pickle, string file, out IReadOnlyCollection<Global> globals, bool scriptObjects = false)
    {
        var u = new SafeUnpickler(pickle, file, scriptObjects);
        var result = u.Run();
        globals = u.GlobalsSeen;
        return result;
    }

    private SonicException Error(string what) => new($"{_file}: {what}");
    private SonicException Malformed(string what) => new($"{_file}: malformed checkpoint pickle at byte {_pos} ({what})");

    private object? Run()
    {
        while (true)
        {
            if (_pos >= _data.Length) throw Malformed("ends without a STOP opcode");
            int at = _pos;
            byte op = _data[_pos++];
            switch (op)
            {
                case 0x80: ReadByte(); break;                                          // PROTO
                case 0x95: ReadBytes(8); break;                                        // FRAME (length only)
                case (byte)'.':                                                        // STOP
                    if (_stack.Count == 0) throw Malformed("STOP with an empty stack");
                    return _stack[^1];
                case (byte)'(': _marks.Add(_stack.Count); break;                        // MARK
                case (byte)'0': Pop(); break;                                          // POP
                case (byte)'1': PopMark(); break;                                      // POP_MARK
                case (byte)'2': Push(Peek()); break;                                   // DUP
                case (byte)'}': Push(new Dict()); break;                               // EMPTY_DICT
                case (byte)']': Push(new List<object?>()); break;                      // EMPTY_LIST
                case (byte)')': Push(Array.Empty<object?>()); break;                   // EMPTY_TUPLE
                case 0x8f: Push(new List<object?>()); break;                           // EMPTY_SET
                case (byte)'d':                                                        // DICT
                    {
                        var items = PopMark();
                        if (items.Count % 2 != 0) throw Malformed("DICT with an odd number of items");
                        var d = new Dict();
                        for (int i = 0; i < items.Count; i += 2) d.Set(HashableKey(items[i]), items[i + 1]);
                        Push(d);
                        break;
                    }
                case (byte)'l': Push(PopMark()); break;                                // LIST
                case 0x91: Push(PopMark()); break;                                     // FROZENSET
                case (byte)'t': Push(PopMark().ToArray()); break;                      // TUPLE
                case 0x85: Push(new[] { Pop() }); break;                               // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); Push(new[] { a, b }); break; }                   // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); Push(new[] { a, b, c }); break; } // TUPLE3
                case (byte)'X': Push(ReadUtf8(ReadUInt32())); break;                   // BINUNICODE
                case 0x8c: Push(ReadUtf8(ReadByte())); break;                          // SHORT_BINUNICODE
                case 0x8d: Push(ReadUtf8(ReadLength64())); break;                      // BINUNICODE8
                case (byte)'T': Push(ReadLatin1(ReadInt32AsLength())); break;          // BINSTRING
                case (byte)'U': Push(ReadLatin1(ReadByte())); break;                   // SHORT_BINSTRING
                case (byte)'B': Push(ReadBytes(ReadInt32AsLength()).ToArray()); break; // BINBYTES
                case (byte)'C': Push(ReadBytes(ReadByte()).ToArray()); break;          // SHORT_BINBYTES
                case 0x8e: Push(ReadBytes(ReadLength64()).ToArray()); break;           // BINBYTES8
                case 0x96: Push(ReadBytes(ReadLength64()).ToArray()); break;           // BYTEARRAY8
                case (byte)'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))); break;   // BININT
                case (byte)'K': Push((long)ReadByte()); break;                                             // BININT1
                case (byte)'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2))); break;  // BININT2
                case (byte)'I': Push(ParseTextInt(ReadLine())); break;                                     // INT
                case (byte)'L': Push(ParseTextLong(ReadLine())); break;                                    // LONG
                case 0x8a: Push(ReadLong(ReadByte())); break;                                              // LONG1
                case 0x8b: Push(ReadLong(ReadInt32AsLength())); break;                                     // LONG4
                case (byte)'G': Push(BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8))); break;           // BINFLOAT
                case 0x88: Push(true); break;                                          // NEWTRUE
                case 0x89: Push(false); break;                                         // NEWFALSE
                case (byte)'N': Push(null); break;                                     // NONE
                case (byte)'p': _memo[ParseTextLong(ReadLine(), "PUT")] = Peek(); break;                   // PUT
                case (byte)'q': _memo[ReadByte()] = Peek(); break;                     // BINPUT
                case (byte)'r': _memo[ReadUInt32()] = Peek(); break;                   // LONG_BINPUT
                case 0x94: _memo[_memo.Count] = Peek(); break;                         // MEMOIZE
                case (byte)'g': Push(MemoGet(ParseTextLong(ReadLine(), "GET"))); break;                    // GET
                case (byte)'h': Push(MemoGet(ReadByte())); break;                      // BINGET
                case (byte)'j': Push(MemoGet(ReadUInt32())); break;                    // LONG_BINGET
                case (byte)'c':                                                        // GLOBAL
                    {
                        string module = ReadLine(), name = ReadLine();
                        Push(ResolveGlobal(module, name));
                        break;
                    }
                case 0x93:                                                             // STACK_GLOBAL
                    {
                        var name = Pop();
                        var module = Pop();
                        if (module is not string m || name is not string n) throw Malformed("STACK_GLOBAL needs two strings");
                        Push(ResolveGlobal(m, n));
                        break;
                    }
                case (byte)'R':                                                        // REDUCE
                    {
                        var args = Pop();
                        var callable = Pop();
                        Push(Call(callable, AsTuple(args, "REDUCE")));
                        break;
                    }
                case 0x81:                                                             // NEWOBJ
                    {
                        var args = Pop();
                        var cls = Pop();
                        Push(Call(cls, AsTuple(args, "NEWOBJ")));
                        break;
                    }
                case 0x92:                                                             // NEWOBJ_EX
                    {
                        Pop();
                        var args = Pop();
                        var cls = Pop();
                        Push(Call(cls, AsTuple(args, "NEWOBJ_EX")));
                        break;
                    }
                case (byte)'b':                                                        // BUILD
                    {
                        var state = Pop();
                        Build(Peek(), state);
                        break;
                    }
                case (byte)'s':                                                        // SETITEM
                    {
                        var value = Pop();
                        var key = Pop();
                        SetItems(Peek(), new List<object?> { key, value });
                        break;
                    }
                case (byte)'u':                                                        // SETITEMS
                    {
                        var items = PopMark();
                        SetItems(Peek(), items);
                        break;
                    }
                case (byte)'a':                                                        // APPEND
                    {
                        var value = Pop();
                        Append(Peek(), new List<object?> { value });
                        break;
                    }
                case (byte)'e':                                                        // APPENDS
                case 0x90:                                                             // ADDITEMS
                    {
                        var items = PopMark();
                        Append(Peek(), items);
                        break;
                    }
                case (byte)'Q':                                                        // BINPERSID
                    Push(PersistentLoad(Pop()));
                    break;
                default:
                    _pos = at;
                    throw Malformed($"opcode 0x{op:x2} is not supported by the safe reader");
            }
        }
    }

    private object? ResolveGlobal(string module, string name)
    {
        if (Python2Modules.TryGetValue(module, out var py3)) module = py3;
        var g = new Global(module, name);
        if (_scriptObjects && IsScriptClass(g))
        {
            _globalsSeen.Add(g);
            return g;
        }
        if (!Allowed.ContainsKey(g.ToString()))
        {
            string alias = module is "posix" or "nt" ? $" (os.{name})" : "";
            throw Error($"refusing to load: the pickle references '{g}'{alias}, which is not an allowed tensor type (nothing was executed)");
        }
        _globalsSeen.Add(g);
        return g;
    }

    private object? Call(object? callable, object?[] args)
    {
        if (_scriptObjects && callable is Global sg && IsScriptClass(sg)) return new Inert(sg, args);
        if (callable is not Global g || !Allowed.TryGetValue(g.ToString(), out var role))
            throw Malformed($"call of a non-global value {Describe(callable)}");
        switch (role)
        {
            case Role.RebuildTensorV2:
            case Role.RebuildTensor:
                if (args.Length < 4) throw Malformed($"{g} needs at least 4 arguments, got {args.Length}");
                if (args[0] is not StorageRef storage) throw Malformed($"{g} called without a storage");
                return new TensorRef(storage, AsLong(args[1], "storage offset"), AsLongs(args[2], "size"), AsLongs(args[3], "stride"));
            case Role.RebuildParameter:
            case Role.RebuildParameterWithState:
                if (args.Length < 1 || args[0] is not TensorRef t) throw Malformed($"{g} called without a tensor");
                return t;
            case Role.RebuildFromTypeV2:
                {
                    if (args.Length < 3) throw Malformed($"{g} needs 4 arguments");
                    if (args[1] is not Global type || !Allowed.TryGetValue(type.ToString(), out var typeRole) || typeRole != Role.TypeMarker)
                        throw Error($"refusing to load: tensor subclass {Describe(args[1])} is not an allowed tensor type (nothing was executed)");
                    return Call(args[0], AsTuple(args[2], g.ToString()));
                }
            case Role.OrderedDict:
                {
                    var d = new Dict();
                    if (args.Length > 0 && args[0] is List<object?> pairs)
                        foreach (var p in pairs)
                        {
                            if (p is not object?[] { Length: 2 } kv) throw Malformed("OrderedDict argument is not a list of pairs");
                            d.Set(HashableKey(kv[0]), kv[1]);
                        }
                    return d;
                }
            case Role.Set:
                return args.Length > 0 && args[0] is List<object?> items ? new List<object?>(items) : new List<object?>();
            case Role.Device:
                return args.Length > 0 ? args[0] : null;
            case Role.Inert:
                return new Inert(g, args);
            default:
                throw Malformed($"{g} cannot be called");
        }
    }

    private object? PersistentLoad(object? pid)
    {
        if (pid is not object?[] { Length: 5 } t || t[0] is not "storage")
            throw Malformed($"persistent id {Describe(pid)} is not a torch storage reference");
        if (t[1] is not Global type || !StorageTypes.TryGetValue(type.Name, out var dt) || type.Module != "torch")
            throw Malformed($"persistent id names storage type {Describe(t[1])}");
        string key = t[2] switch
        {
            string s => s,
            long l => l.ToString(System.Globalization.CultureInfo.InvariantCulture),
            _ => throw Malformed("storage key is not a string"),
        };
        if (key.Length == 0 || key.Contains('/') || key.Contains('\\') || key.Contains(".."))
            throw Malformed($"storage key '{key}' is not a plain name");
        string location = t[3] as string ?? "cpu";
        long numel = AsLong(t[4], "storage size");
        if (numel < 0) throw Malformed($"storage '{key}' has negative size {numel}");
        return new StorageRef(key, dt.Type, dt.Name, location, numel);
    }

    private void Build(object? target, object? state)
    {
        switch (target)
        {
            case Inert i: i.State = state; break;
            case Dict: break;                 // OrderedDict._metadata of state dicts: not needed
            case TensorRef: break;            // tensor attributes (torch >= 2): not needed
            case List<object?>: break;
            default: throw Malformed($"BUILD on {Describe(target)}");
        }
    }

    private void SetItems(object? target, List<object?> items)
    {
        if (items.Count % 2 != 0) throw Malformed("SETITEMS with an odd number of items");
        switch (target)
        {
            case Dict d:
                for (int i = 0; i < items.Count; i += 2) d.Set(HashableKey(items[i]), items[i + 1]);
                break;
            case Inert: break;
            default: throw Malformed($"SETITEM on {Describe(target)}");
        }
    }

    private void Append(object? target, List<object?> items)
    {
        switch (target)
        {
            case List<object?> l:
                if (l.Count + (long)items.Count > MaxCollectionItems) throw Malformed("list too long");
                l.AddRange(items);
                break;
            case Inert: break;
            default: throw Malformed($"APPEND on {Describe(target)}");
        }
    }

    private object? HashableKey(object? key) => key switch
    {
        null or string or long or bool or double or BigInteger or Global or object?[] => key,
        byte[] b => Convert.ToHexString(b),
        Inert i => i.Type,
        _ => throw Malformed($"unhashable dict key {Describe(key)}"),
    };

    private static string Describe(object? v) => v switch
    {
        null => "None",
        string s => $"'{(s.Length > 40 ? s[..40] + "..." : s)}'",
        Global g => $"'{g}'",
        Dict => "a dict",
        List<object?> => "a list",
        object?[] => "a tuple",
        TensorRef => "a tensor",
        StorageRef => "a storage",
        Inert i => $"a {i.Type} object",
        _ => v.GetType().Name,
    };

    private object?[] AsTuple(object? v, string op) => v switch
    {
        object?[] t => t,
        List<object?> l => l.ToArray(),
        _ => throw Malformed($"{op} arguments are {Describe(v)}, not a tuple"),
    };

    private long AsLong(object? v, string what) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        BigInteger bi when bi >= long.MinValue && bi <= long.MaxValue => (long)bi,
        _ => throw Malformed($"{what} is {Describe(v)}, not an integer"),
    };

    private long[] AsLongs(object? v, string what)
    {
        var t = AsTuple(v, what);
        var r = new long[t.Length];
        for (int i = 0; i < t.Length; i++) r[i] = AsLong(t[i], what);
        return r;
    }

    private void Push(object? v) => _stack.Add(v);

    private object? Pop()
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count <= floor) throw Malformed("stack underflow");
        var v = _stack[^1];
        _stack.RemoveAt(_stack.Count - 1);
        return v;
    }

    private object? Peek()
    {
        int floor = _marks.Count > 0 ? _marks[^1] : 0;
        if (_stack.Count <= floor) throw Malformed("stack underflow");
        return _stack[^1];
    }

    private List<object?> PopMark()
    {
        if (_marks.Count == 0) throw Malformed("no MARK on the stack");
        int m = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        var items = _stack.GetRange(m, _stack.Count - m);
        _stack.RemoveRange(m, _stack.Count - m);
        return items;
    }

    private object? MemoGet(long key) => _memo.TryGetValue(key, out var v) ? v : throw Malformed($"memo entry {key} is missing");

    private byte ReadByte()
    {
        if (_pos >= _data.Length) throw Malformed("truncated");
        return _data[_pos++];
    }

    private ReadOnlySpan<byte> ReadBytes(long n)
    {
        if (n < 0 || n > _data.Length - _pos) throw Malformed($"needs {n} bytes, {_data.Length - _pos} left (truncated)");
        var s = new ReadOnlySpan<byte>(_data, _pos, (int)n);
        _pos += (int)n;
        return s;
    }

    private uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4));

    private long ReadInt32AsLength()
    {
        int n = BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4));
        if (n < 0) throw Malformed("negative length");
        return n;
    }

    private long ReadLength64()
    {
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(ReadBytes(8));
        if (n > int.MaxValue) throw Malformed("length too large");
        return (long)n;
    }

    private string ReadUtf8(long n)
    {
        var bytes = ReadBytes(n);
        try { return new UTF8Encoding(false, true).GetString(bytes); }
        catch (DecoderFallbackException) { throw Malformed("invalid UTF-8 string"); }
    }

    private string ReadLatin1(long n) => Encoding.Latin1.GetString(ReadBytes(n));

    private string ReadLine()
    {
        int end = Array.IndexOf(_data, (byte)'\n', _pos);
        if (end < 0 || end - _pos > 4096) throw Malformed("unterminated text argument");
        var s = Encoding.ASCII.GetString(_data, _pos, end - _pos);
        _pos = end + 1;
        return s;
    }

    private object ReadLong(long n)
    {
        if (n > 4096) throw Malformed("integer too long");
        var bytes = ReadBytes(n);
        if (n == 0) return 0L;
        var bi = new BigInteger(bytes, isUnsigned: false, isBigEndian: false);
        return bi >= long.MinValue && bi <= long.MaxValue ? (long)bi : bi;
    }

    private object ParseTextInt(string s) => s switch
    {
        "00" => false,
        "01" => true,
        _ => ParseTextLong(s, "INT"),
    };

    private object ParseTextLong(string s) => ParseTextLong(s.TrimEnd('L'), "LONG");

    private long ParseTextLong(string s, string op) =>
        long.TryParse(s, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out long v)
            ? v
            : throw Malformed($"{op} argument '{s}' is not an integer");
}
