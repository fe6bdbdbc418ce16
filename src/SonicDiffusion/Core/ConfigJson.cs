using System.Text.Json;
using System.Text.Json.Serialization;

namespace SonicDiffusion.Core;

/// <summary>Shared JSON settings for configs: diffusers' config.json uses snake_case keys and extra keys are ignored.</summary>
public static class ConfigJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    public static T Read<T>(string path)
    {
        if (!File.Exists(path)) throw new SonicException($"{path}: config file not found");
        try
        {
            return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Options)
                   ?? throw new SonicException($"{path}: config is empty");
        }
        catch (JsonException e)
        {
            throw new SonicException($"{path}: invalid config ({e.Message.Split('\n')[0]})");
        }
    }

    public static T Parse<T>(string json, string source)
    {
        try { return JsonSerializer.Deserialize<T>(json, Options) ?? throw new SonicException($"{source}: config is empty"); }
        catch (JsonException e) { throw new SonicException($"{source}: invalid config ({e.Message.Split('\n')[0]})"); }
    }

    public static void Write<T>(string path, T value)
    {
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(value, Options));
        File.Move(tmp, path, true);
    }
}
