using System.Text.Json;
using System.Text.Json.Nodes;
using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Training;

/// <summary>
/// The frozen CLIP text encoder's token embeddings of every distinct caption, computed once: float32
/// [U + 1, 77, hidden] = the last hidden state (after the final LayerNorm), exactly what SD's UNet reads and what the
/// official <c>FrozenCLIPEmbedder</c> returns (padding "max_length" 77, truncation). Row 0 is the empty prompt "".
/// The file is named after a key of the text encoder folder's config and weights bytes, the tokenizer files (or the
/// built-in SD v1 vocabulary) and the caption list, so new encoder weights give a new cache.
/// </summary>
public sealed class TextTokenCache : IDisposable
{
    public const string Format = "sonic-clip-token-cache/1";
    private const long ShardCaptions = 256;

    private readonly ShardedRows _store;
    private readonly Dictionary<string, long> _index;

    /// <summary>The cached captions; index 0 is "".</summary>
    public IReadOnlyList<string> Captions { get; }
    public string Key { get; }
    public string FilePath => _store.FilePath;
    public long SequenceLength => _store.RowShape[0];
    public long Hidden => _store.RowShape[1];

    private TextTokenCache(ShardedRows store, IReadOnlyList<string> captions, string key)
    {
        _store = store;
        Captions = captions;
        Key = key;
        _index = new Dictionary<string, long>(StringComparer.Ordinal);
        for (int i = 0; i < captions.Count; i++) _index.TryAdd(captions[i], i);
    }

    /// <summary>Row of <paramref name="caption"/> (0 = the empty prompt).</summary>
    public long IndexOf(string caption) => _index.TryGetValue(caption, out var i) ? i
        : throw new SonicException($"{FilePath}: caption \"{(caption.Length > 40 ? caption[..37] + "..." : caption)}\" is not in the token cache (delete the cache to rebuild)");

    /// <summary>The text encoder folder of a model (a diffusers/bundle folder with text_encoder/, or the text_encoder/ folder itself).</summary>
    public static string TextEncoderDir(string model) => Directory.Exists(Path.Combine(model, "text_encoder")) ? Path.Combine(model, "text_encoder") : model;

    /// <summary>The model's tokenizer: its tokenizer/ folder, else the built-in SD v1 vocabulary (as the pipelines do).</summary>
    public static (ClipTokenizer Tokenizer, string? Folder) TokenizerFor(string model)
    {
        string dir = Path.Combine(model, "tokenizer");
        return Directory.Exists(dir) ? (ClipTokenizer.FromFolder(dir), dir) : (ClipTokenizer.Default, null);
    }

    public static string ComputeKey(string model, IReadOnlyList<string> captions)
    {
        string textDir = TextEncoderDir(model);
        var key = new CacheKey().Add(Format);
        string cfg = Path.Combine(textDir, "config.json");
        if (File.Exists(cfg)) key.AddFileContents(cfg);
        key.AddFileContents(StableDiffusionComponents.FindWeights(textDir));
        var (_, tokDir) = TokenizerFor(model);
        if (tokDir is null) key.Add("builtin-sd-v1-vocabulary");
        else foreach (var f in Directory.GetFiles(tokDir).Order(StringComparer.Ordinal)) key.AddFileContents(f);
        key.Add(captions.Count);
        foreach (var c in captions) key.Add(c);
        return key.Finish();
    }

    /// <summary>Opens the token embeddings of <paramref name="captions"/> (plus "") under <paramref name="model"/>'s text encoder, computing them first when absent.</summary>
    public static TextTokenCache LoadOrBuild(string model, IEnumerable<string> captions, string cacheDir, int batchSize = 16,
        IProgress<ProgressInfo>? progress = null, Action<string>? log = null, CancellationToken cancel = default)
    {
        var list = new List<string> { "" };
        list.AddRange(captions.Where(c => c.Length > 0).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal));
        string key = ComputeKey(model, list);
        string path = Path.Combine(cacheDir, $"clip-tokens-{key[..16]}.safetensors");
        if (!File.Exists(path))
        {
            Build(model, list, key, path, batchSize, progress, cancel);
            log?.Invoke($"CLIP token cache: wrote {list.Count} captions (incl. the empty prompt) to {path}");
        }
        else log?.Invoke($"CLIP token cache: {path}");
        if (!File.Exists(path + ".captions.json")) throw new SonicException($"{path}.captions.json: missing (delete the cache to rebuild)");
        using (var file = SafetensorsFile.Open(path))
            if (!file.Metadata.TryGetValue("key", out var stored) || stored != key)
                throw new SonicException($"{path}: CLIP token cache key does not match its name (damaged file; delete it to rebuild)");
        var storedCaptions = JsonSerializer.Deserialize<List<string>>(File.ReadAllText(path + ".captions.json")) ?? [];
        if (!storedCaptions.SequenceEqual(list)) throw new SonicException($"{path}.captions.json: captions differ from the cache key (delete the cache to rebuild)");
        var store = ShardedRows.Open(path, "tokens");
        if (store.Count != list.Count) { store.Dispose(); throw new SonicException($"{path}: holds {store.Count} captions, expected {list.Count} (delete it to rebuild)"); }
        return new TextTokenCache(store, list, key);
    }

    private static void Build(string model, List<string> captions, string key, string path, int batchSize, IProgress<ProgressInfo>? progress, CancellationToken cancel)
    {
        using var text = ClipTextModel.FromFolder(TextEncoderDir(model));
        text.eval();
        var (tokenizer, _) = TokenizerFor(model);
        int length = text.Config.MaxPositionEmbeddings;
        long hidden = text.Config.HiddenSize;
        progress?.Report(new ProgressInfo("cache CLIP tokens", 0, captions.Count));
        var entries = ShardedRows.Entries("tokens", captions.Count, [length, hidden], ShardCaptions, ScalarType.Float32, (first, n) =>
        {
            var parts = new List<Tensor>();
            using var noGrad = torch.no_grad();
            for (long s = first; s < first + n; s += batchSize)
            {
                cancel.ThrowIfCancellationRequested();
                using var scope = torch.NewDisposeScope();
                var ids = tokenizer.EncodeBatch(captions.Skip((int)s).Take((int)Math.Min(batchSize, first + n - s)).ToList(), length);
                parts.Add(text.forward(ids).MoveToOuterDisposeScope());
                progress?.Report(new ProgressInfo("cache CLIP tokens", (int)Math.Min(s + batchSize, first + n), captions.Count));
            }
            var all = torch.cat(parts, 0);
            foreach (var p in parts) p.Dispose();
            return all;
        });
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path + ".captions.json", JsonSerializer.Serialize(captions));
        ClapEmbeddingCache.WriteAtomically(path, entries, new Dictionary<string, string>
        {
            ["format"] = Format,
            ["key"] = key,
            ["content"] = "CLIP text encoder last_hidden_state per caption, padding max_length; row 0 = empty prompt; captions in <file>.captions.json",
        });
    }

    /// <summary>Token embeddings of the given caption rows: float32 [B, 77, hidden].</summary>
    public Tensor Read(long[] rows) => _store.Read(rows);

    public JsonObject Describe() => new() { ["key"] = Key, ["captions"] = Captions.Count, ["length"] = SequenceLength, ["hidden"] = Hidden };

    public void Dispose() => _store.Dispose();
}
