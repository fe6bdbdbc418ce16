using System.Text.Json;
using System.Text.Json.Serialization;

namespace SonicDiffusion.Core;

/// <summary>
/// Reads a diffusers config field that may be a single integer or a per-block list (e.g. <c>attention_head_dim</c>:
/// 8 in SD v1, [5, 10, 20, 20] in SD 2) into an array; a single integer becomes a one-element array.
/// </summary>
public sealed class IntOrArrayJsonConverter : JsonConverter<int[]>
{
    public override int[]? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return null;
            case JsonTokenType.Number:
                return [reader.GetInt32()];
            case JsonTokenType.String when int.TryParse(reader.GetString(), out var v):
                return [v];
            case JsonTokenType.StartArray:
            {
                var list = new List<int>();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (reader.TokenType != JsonTokenType.Number) throw new JsonException("expected an integer or a list of integers");
                    list.Add(reader.GetInt32());
                }
                return list.ToArray();
            }
            default:
                throw new JsonException("expected an integer or a list of integers");
        }
    }

    public override void Write(Utf8JsonWriter writer, int[] value, JsonSerializerOptions options)
    {
        if (value.Length == 1)
        {
            writer.WriteNumberValue(value[0]);
            return;
        }
        writer.WriteStartArray();
        foreach (var v in value) writer.WriteNumberValue(v);
        writer.WriteEndArray();
    }
}
