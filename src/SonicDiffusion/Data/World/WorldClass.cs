namespace SonicDiffusion.Data.World;

/// <summary>The nine sound classes of the paper's Landscape set, in a fixed order (the order of <see cref="WorldClasses.All"/>).</summary>
public enum WorldClass
{
    WindNoise,
    SquishingWater,
    SplashingWater,
    FireCrackling,
    Raining,
    UnderwaterBubbling,
    Thunder,
    WaterfallBurbling,
    Explosion,
}

/// <summary>Time of day of a scene; it picks the palette and the caption's time phrase.</summary>
public enum TimeOfDay { Day, Dusk, Night }

/// <summary>What lies on the horizon behind the main subject.</summary>
public enum FarLayer { Hills, Forest, Mountains, City, Sea, Dunes }

/// <summary>What the foreground ground is made of.</summary>
public enum GroundKind { Grass, Wheat, Sand, Snow, Mud, Rock, Street, Water, Seabed }

/// <summary>One place a class can be shown in: its caption phrase and the backdrop it is drawn with.</summary>
public sealed record WorldSetting(string Id, string Phrase, FarLayer Far, GroundKind Ground);

/// <summary>Label id, human name and settings of one class.</summary>
public sealed record WorldClassInfo(WorldClass Class, string Label, string Name, IReadOnlyList<WorldSetting> Settings);

public static class WorldClasses
{
    public static readonly IReadOnlyList<WorldClassInfo> All =
    [
        new(WorldClass.WindNoise, "wind_noise", "wind noise",
        [
            new("meadow", "in a grassy meadow", FarLayer.Hills, GroundKind.Grass),
            new("wheat_field", "in a wheat field", FarLayer.Hills, GroundKind.Wheat),
            new("hillside", "on a hillside below the mountains", FarLayer.Mountains, GroundKind.Grass),
            new("dunes", "on sand dunes by the sea", FarLayer.Sea, GroundKind.Sand),
        ]),
        new(WorldClass.SquishingWater, "squishing_water", "squishing water",
        [
            new("forest_trail", "on a muddy forest trail", FarLayer.Forest, GroundKind.Mud),
            new("field", "in a muddy field", FarLayer.Hills, GroundKind.Mud),
            new("mountain_path", "on a muddy path in the mountains", FarLayer.Mountains, GroundKind.Mud),
            new("village", "on a muddy road near a town", FarLayer.City, GroundKind.Mud),
        ]),
        new(WorldClass.SplashingWater, "splashing_water", "splashing water",
        [
            new("lake", "in a lake", FarLayer.Forest, GroundKind.Water),
            new("sea", "in the sea", FarLayer.Sea, GroundKind.Water),
            new("river", "in a river", FarLayer.Hills, GroundKind.Water),
            new("mountain_lake", "in a mountain lake", FarLayer.Mountains, GroundKind.Water),
        ]),
        new(WorldClass.FireCrackling, "fire_crackling", "fire crackling",
        [
            new("beach", "on a rocky beach", FarLayer.Sea, GroundKind.Sand),
            new("forest", "in a forest clearing", FarLayer.Forest, GroundKind.Grass),
            new("snow", "in the snow", FarLayer.Mountains, GroundKind.Snow),
            new("desert", "in the desert", FarLayer.Dunes, GroundKind.Sand),
        ]),
        new(WorldClass.Raining, "raining", "raining",
        [
            new("street", "over a city street", FarLayer.City, GroundKind.Street),
            new("field", "over a green field", FarLayer.Hills, GroundKind.Grass),
            new("lake", "over a lake", FarLayer.Forest, GroundKind.Water),
            new("mountains", "over the mountains", FarLayer.Mountains, GroundKind.Rock),
        ]),
        new(WorldClass.UnderwaterBubbling, "underwater_bubbling", "underwater bubbling",
        [
            new("reef", "near a coral reef", FarLayer.Hills, GroundKind.Seabed),
            new("kelp", "in a kelp forest", FarLayer.Forest, GroundKind.Seabed),
            new("seabed", "over a sandy seabed", FarLayer.Dunes, GroundKind.Seabed),
            new("rocks", "among underwater rocks", FarLayer.Mountains, GroundKind.Seabed),
        ]),
        new(WorldClass.Thunder, "thunder", "thunder",
        [
            new("city", "over a city", FarLayer.City, GroundKind.Street),
            new("mountains", "over the mountains", FarLayer.Mountains, GroundKind.Rock),
            new("sea", "over the sea", FarLayer.Sea, GroundKind.Water),
            new("plains", "over open plains", FarLayer.Hills, GroundKind.Grass),
        ]),
        new(WorldClass.WaterfallBurbling, "waterfall_burbling", "waterfall burbling",
        [
            new("forest", "in a pine forest", FarLayer.Forest, GroundKind.Rock),
            new("cliffs", "between rocky cliffs", FarLayer.Mountains, GroundKind.Rock),
            new("jungle", "in a green jungle", FarLayer.Forest, GroundKind.Grass),
            new("canyon", "in a red canyon", FarLayer.Dunes, GroundKind.Rock),
        ]),
        new(WorldClass.Explosion, "explosion", "explosion",
        [
            new("desert", "in the desert", FarLayer.Dunes, GroundKind.Sand),
            new("field", "in an open field", FarLayer.Hills, GroundKind.Grass),
            new("quarry", "in a rocky quarry", FarLayer.Mountains, GroundKind.Rock),
            new("city", "in a city", FarLayer.City, GroundKind.Street),
        ]),
    ];

    public static WorldClassInfo Info(WorldClass c) => All[(int)c];

    public static int Count => All.Count;

    /// <summary>The class with this label id (e.g. "fire_crackling"), or null.</summary>
    public static WorldClassInfo? FromLabel(string label) => All.FirstOrDefault(i => i.Label == label);

    public static string Id(this TimeOfDay t) => t switch { TimeOfDay.Day => "day", TimeOfDay.Dusk => "dusk", _ => "night" };
}
