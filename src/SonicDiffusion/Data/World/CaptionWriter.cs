namespace SonicDiffusion.Data.World;

/// <summary>
/// BLIP-2-like captions that describe the drawn picture (subject sized by intensity, setting, time of day) in varied
/// phrasings; never the bare class name. World-2 captions name the event and the backdrop ("a campfire burning on a
/// sandy beach by the sea at dusk"), so text can change the backdrop while the sound sets the event.
/// </summary>
public static class CaptionWriter
{
    public static string Write(WorldScene scene) => Write(scene, scene.Stream(WorldScene.CaptionStream));

    public static string Write(WorldScene scene, WorldRandom rng)
    {
        if (scene.Backdrop is { } backdrop) return WriteEvent(scene, backdrop, rng);
        string subject = Subject(scene, rng);
        string place = scene.Setting.Phrase;
        string time = rng.Pick(TimePhrases(scene));
        int frame = rng.Next(10);
        return frame switch
        {
            0 => $"{subject} {place} {time}",
            1 => $"a photo of {subject} {place} {time}",
            2 => $"{subject} {time} {place}",
            3 => $"an illustration of {subject} {place} {time}",
            4 => $"a painting of {subject} {place}",
            5 => $"a drawing of {subject} {time}",
            6 => $"{time}, {subject} {place}",
            7 => $"a cartoon of {subject} {place} {time}",
            8 => $"a view of {subject} {place} {time}",
            _ => $"a picture of {subject} {place} {time}",
        };
    }

    private static string WriteEvent(WorldScene scene, SceneBackdrop backdrop, WorldRandom rng)
    {
        string subject = EventSubject(scene, rng);
        string place = backdrop.Phrase(rng);
        string time = rng.Pick(EventTimePhrases(scene.TimeOfDay, backdrop.Overcast));
        return rng.Next(8) switch
        {
            0 => $"{subject} {place} {time}",
            1 => $"a photo of {subject} {place} {time}",
            2 => $"{subject} {time} {place}",
            3 => $"an illustration of {subject} {place} {time}",
            4 => $"a painting of {subject} {place}",
            5 => $"{time}, {subject} {place}",
            6 => $"a view of {subject} {place} {time}",
            _ => $"a picture of {subject} {place} {time}",
        };
    }

    /// <summary>World 2's subject: fire, rain and explosions are worded as in world 1; the classes drawn differently here have their own bands.</summary>
    private static string EventSubject(WorldScene scene, WorldRandom rng)
    {
        if (scene.Class is WorldClass.FireCrackling or WorldClass.Raining or WorldClass.Explosion) return Subject(scene, rng);
        double i = scene.Intensity;
        int band = i < 1.0 / 3 ? 0 : i < 2.0 / 3 ? 1 : 2;
        string[][] bands = scene.Class switch
        {
            WorldClass.WindNoise =>
            [
                ["trees swaying in a gentle breeze", "a light breeze blowing", "grass moving in a soft wind"],
                ["trees bending in the wind", "wind blowing leaves around", "windy weather"],
                ["trees bent by a strong gale", "a windstorm blowing leaves through the air", "strong wind bending the trees"],
            ],
            WorldClass.SquishingWater =>
            [
                ["a rubber boot in a muddy puddle", "a boot standing in a shallow puddle of mud", "a boot in the mud"],
                ["a boot squelching in a muddy puddle", "muddy footprints leading to a rubber boot", "a boot splashing through wet mud"],
                ["a boot stomping through deep mud with mud splattering", "a trail of muddy footprints and a boot in a puddle", "mud splashing around a rubber boot"],
            ],
            WorldClass.SplashingWater =>
            [
                ["a small splash in the water", "a little splash of water", "a few droplets splashing up from the water"],
                ["water splashing", "a splash of water with ripples", "a splash on the water surface"],
                ["a huge splash of water", "a big splash sending water flying", "a massive splash with droplets everywhere"],
            ],
            WorldClass.UnderwaterBubbling =>
            [
                ["a few bubbles rising in the water", "small air bubbles in the water", "a few bubbles on the water"],
                ["bubbles rising in the water", "water bubbling", "air bubbles coming up through the water"],
                ["many bubbles rising through the water", "water bubbling furiously", "a cloud of bubbles in the water"],
            ],
            WorldClass.Thunder =>
            [
                ["a single bolt of lightning", "a lightning bolt striking from a dark cloud", "a thunderstorm with one lightning strike"],
                ["two lightning bolts striking", "a thunderstorm with lightning", "lightning striking from dark clouds"],
                ["three bright lightning bolts", "a violent thunderstorm with many lightning bolts", "multiple lightning strikes"],
            ],
            WorldClass.WaterfallBurbling =>
            [
                ["a narrow waterfall", "a thin waterfall falling from a rock", "a small waterfall"],
                ["a waterfall", "a waterfall pouring over a rock", "a waterfall flowing into the water"],
                ["a wide, powerful waterfall", "a big waterfall crashing into the water", "a large waterfall"],
            ],
            _ => throw new ArgumentOutOfRangeException(nameof(scene)),
        };
        return rng.Pick(bands[band]);
    }

    private static string[] EventTimePhrases(TimeOfDay time, bool overcast) => (time, overcast) switch
    {
        (TimeOfDay.Day, false) => ["on a sunny day", "during the day", "in daylight", "under a blue sky"],
        (TimeOfDay.Day, true) => ["on a grey day", "under a cloudy sky", "during the day", "under grey clouds"],
        (TimeOfDay.Dusk, false) => ["at dusk", "at sunset", "in the evening", "at twilight"],
        (TimeOfDay.Dusk, true) => ["at dusk", "in the evening", "under dark evening clouds"],
        (TimeOfDay.Night, false) => ["at night", "under a starry sky", "in the moonlight", "at night under the moon"],
        _ => ["at night", "in the dark of night", "on a cloudy night"],
    };

    private static string Subject(WorldScene scene, WorldRandom rng)
    {
        double i = scene.Intensity;
        int band = i < 1.0 / 3 ? 0 : i < 2.0 / 3 ? 1 : 2;
        if (scene.Class == WorldClass.Thunder)
        {
            int bolts = 1 + (int)Math.Round(3 * i);
            return bolts switch
            {
                1 => rng.Pick(["a single bolt of lightning", "a lightning bolt striking", "a thunderstorm with one lightning strike"]),
                2 => rng.Pick(["two lightning bolts striking", "a thunderstorm with two bolts of lightning", "lightning striking twice"]),
                3 => rng.Pick(["three lightning bolts", "a thunderstorm with three lightning strikes", "several bolts of lightning"]),
                _ => rng.Pick(["four bright lightning bolts", "a violent thunderstorm with many lightning bolts", "multiple lightning strikes"]),
            };
        }
        string[][] bands = scene.Class switch
        {
            WorldClass.WindNoise =>
            [
                ["grass swaying in a gentle breeze", "a light breeze blowing over the grass", "grass moving in a soft wind"],
                ["grass bending in the wind", "wind blowing through the grass", "windy weather with the grass blowing"],
                ["grass flattened by a strong gale", "strong wind bending the grass", "a windstorm blowing leaves through the air"],
            ],
            WorldClass.SquishingWater =>
            [
                ["a rubber boot stepping into a muddy puddle", "a boot standing in a shallow puddle of mud", "a rubber boot in a muddy puddle"],
                ["a boot splashing through wet mud", "muddy footprints leading to a rubber boot in a puddle", "a boot squelching in a muddy puddle"],
                ["a boot stomping through deep mud with mud splattering", "a trail of muddy footprints and a boot splashing in a puddle", "mud splashing around a rubber boot"],
            ],
            WorldClass.SplashingWater =>
            [
                ["a small splash on the water", "a little splash of water", "a few droplets splashing up from the water"],
                ["water splashing", "a splash of water with ripples", "a splash on the water surface"],
                ["a huge splash of water", "a big splash sending water flying", "a massive splash with droplets everywhere"],
            ],
            WorldClass.FireCrackling =>
            [
                ["a small campfire", "a little fire burning between stones", "a small campfire with low flames"],
                ["a campfire burning", "a crackling campfire", "a fire burning on logs"],
                ["a large bonfire with tall flames", "a big roaring campfire", "a blazing fire with sparks flying"],
            ],
            WorldClass.Raining =>
            [
                ["a light drizzle", "light rain falling", "a few raindrops falling"],
                ["rain falling", "steady rain pouring down", "rainy weather"],
                ["a heavy downpour", "heavy rain pouring down", "a torrential rainstorm"],
            ],
            WorldClass.UnderwaterBubbling =>
            [
                ["a few bubbles rising underwater", "small air bubbles under the water", "a few air bubbles in the sea"],
                ["bubbles rising underwater", "a stream of bubbles under the sea", "air bubbles floating up underwater"],
                ["many bubbles rising through the water", "a cloud of bubbles underwater", "lots of air bubbles rising to the surface"],
            ],
            WorldClass.WaterfallBurbling =>
            [
                ["a narrow waterfall", "a thin waterfall falling into a pool", "a small waterfall"],
                ["a waterfall", "a waterfall flowing into a pool", "a waterfall pouring over rocks"],
                ["a wide, powerful waterfall", "a huge waterfall crashing into a pool", "a large waterfall"],
            ],
            _ =>
            [
                ["a small explosion", "a small blast with smoke", "a little explosion on the ground"],
                ["an explosion", "a fiery explosion with smoke", "an explosion with a fireball"],
                ["a massive explosion", "a huge fireball exploding", "a giant explosion with debris flying"],
            ],
        };
        return rng.Pick(bands[band]);
    }

    private static string[] TimePhrases(WorldScene scene)
    {
        if (scene.Class == WorldClass.UnderwaterBubbling)
            return scene.TimeOfDay switch
            {
                TimeOfDay.Day => ["in clear blue water", "in sunlit water", "in bright shallow water"],
                TimeOfDay.Dusk => ["in dim green water", "in murky water", "in the fading light"],
                _ => ["in dark deep water", "in the dark ocean at night", "at night"],
            };
        bool overcast = scene.Class is WorldClass.Raining or WorldClass.Thunder;
        return (scene.TimeOfDay, overcast) switch
        {
            (TimeOfDay.Day, false) => ["on a sunny day", "during the day", "in daylight", "under a blue sky"],
            (TimeOfDay.Day, true) => ["on a grey day", "under a cloudy sky", "during the day", "under grey clouds"],
            (TimeOfDay.Dusk, false) => ["at dusk", "at sunset", "in the evening", "at twilight"],
            (TimeOfDay.Dusk, true) => ["at dusk", "in the evening", "under dark evening clouds"],
            (TimeOfDay.Night, false) => ["at night", "under a starry sky", "in the moonlight", "at night under the moon"],
            _ => ["at night", "in the dark of night", "on a stormy night"],
        };
    }
}
