namespace SonicDiffusion.Data.World;

/// <summary>The body of water every world-2 backdrop holds, so that water events can happen on any backdrop.</summary>
public enum WaterKind { Lake, Sea, River, Pond }

/// <summary>
/// The class-independent part of a world-2 scene: far layer, ground, water body, sky cover and where the water lies.
/// Every class can be drawn on every backdrop; the same backdrop with another class keeps its layout.
/// </summary>
public sealed record SceneBackdrop(FarLayer Far, GroundKind Ground, WaterKind Water, bool Overcast, bool WaterOnLeft)
{
    public static readonly IReadOnlyList<FarLayer> FarLayers = [FarLayer.Hills, FarLayer.Forest, FarLayer.Mountains, FarLayer.City, FarLayer.Dunes];
    public static readonly IReadOnlyList<GroundKind> Grounds = [GroundKind.Grass, GroundKind.Wheat, GroundKind.Sand, GroundKind.Snow, GroundKind.Mud, GroundKind.Rock];
    public static readonly IReadOnlyList<WaterKind> Waters = [WaterKind.Lake, WaterKind.Sea, WaterKind.River, WaterKind.Pond];

    /// <summary>A backdrop drawn uniformly from every combination; overcast skies one time in four.</summary>
    public static SceneBackdrop Sample(WorldRandom rng) =>
        new(rng.Pick(FarLayers), rng.Pick(Grounds), rng.Pick(Waters), rng.Chance(0.25), rng.Chance(0.5));

    /// <summary>A stable id such as "grass-lake-hills" (the manifest's setting column).</summary>
    public string Id => $"{Name(Ground)}-{Water.ToString().ToLowerInvariant()}-{Far.ToString().ToLowerInvariant()}";

    /// <summary>The place as a caption phrase, e.g. "by a lake in a grassy meadow below green hills".</summary>
    public string Phrase(WorldRandom rng)
    {
        string water = Water switch
        {
            WaterKind.Lake => rng.Pick(["by a lake", "on the shore of a lake", "beside a lake"]),
            WaterKind.Sea => rng.Pick(["by the sea", "on the coast", "at the seaside"]),
            WaterKind.River => rng.Pick(["by a river", "on a riverbank", "beside a river"]),
            _ => rng.Pick(["by a pond", "next to a small pond", "beside a pond"]),
        };
        string ground = Ground switch
        {
            GroundKind.Grass => rng.Pick(["in a grassy meadow", "on green grass", "in a meadow"]),
            GroundKind.Wheat => rng.Pick(["in a wheat field", "in a golden field", "among the wheat"]),
            GroundKind.Sand => rng.Pick(["on a sandy beach", "on the sand", "on a sandy shore"]),
            GroundKind.Snow => rng.Pick(["in the snow", "in a snowy field in winter", "on snowy ground in winter"]),
            GroundKind.Mud => rng.Pick(["on muddy ground", "in a muddy field", "on a muddy trail"]),
            _ => rng.Pick(["on rocky ground", "among the rocks", "on a stony shore"]),
        };
        string far = Far switch
        {
            FarLayer.Hills => rng.Pick(["below green hills", "in the hills", "with hills behind"]),
            FarLayer.Forest => rng.Pick(["near a pine forest", "at the edge of a forest", "with a forest behind"]),
            FarLayer.Mountains => rng.Pick(["below the mountains", "in the mountains", "with snowy peaks behind"]),
            FarLayer.City => rng.Pick(["near a city", "outside a town", "with a city skyline behind"]),
            _ => rng.Pick(["among sand dunes", "in the desert", "near the dunes"]),
        };
        return rng.Next(4) switch
        {
            0 => $"{water} {ground}",
            1 => $"{ground} {water}",
            2 => $"{water} {far}",
            _ => $"{ground} {far}",
        };
    }

    /// <summary>The setting record older code reads (id, a canonical phrase, far layer, ground).</summary>
    public WorldSetting ToSetting() => new(Id, Phrase(new WorldRandom(0)), Far, Ground);

    private static string Name(GroundKind g) => g.ToString().ToLowerInvariant();
}
