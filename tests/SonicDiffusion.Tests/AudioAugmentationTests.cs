using SonicDiffusion.Data;
using SonicDiffusion.Data.World;
using SonicDiffusion.Tests.Infrastructure;
using SonicDiffusion.Training;
using TorchSharp;

namespace SonicDiffusion.Tests;

public class AudioAugmentationTests
{
    private static readonly AudioAugmentationOptions Everything = new()
    {
        SpeedProbability = 1, TiltProbability = 1, ReverbProbability = 1, BackgroundProbability = 1, NoiseProbability = 1,
        GainProbability = 1, ClipProbability = 1, CodecProbability = 0,
    };

    private static float[] Clip(WorldClass cls, ulong seed) => SoundSynth.Synthesize(cls, 0.6, 2.0, new WorldRandom(seed));

    [Fact]
    public void EveryStepChangesTheSoundReproduciblyAndKeepsItsLength()
    {
        var wave = Clip(WorldClass.FireCrackling, 1);
        var other = Clip(WorldClass.Raining, 2);
        var aug = new AudioAugmentation(Everything, 44100, ffmpeg: "/nonexistent/ffmpeg-is-not-used");
        var steps = new List<string>();
        var a = aug.Apply(wave, 7, 1, _ => other, steps);
        Assert.Equal(["speed", "tilt", "reverb", "background", "noise", "gain", "clip"], steps);
        Assert.Equal(wave.Length, a.Length);
        Assert.All(a, v => Assert.InRange(v, -1f, 1f));
        Assert.Equal(a, aug.Apply(wave, 7, 1, _ => other));
        Assert.NotEqual(a, aug.Apply(wave, 7, 2, _ => other));
        Assert.NotEqual(a, aug.Apply(wave, 8, 1, _ => other));
        double diff = Math.Sqrt(wave.Zip(a).Average(p => (p.First - p.Second) * (double)(p.First - p.Second)));
        Assert.True(diff > 0.1 * Dsp.Rms(wave), $"augmented clip differs by only {diff:g3} RMS");

        // Without a background clip the background step mixes room tone instead.
        var roomSteps = new List<string>();
        aug.Apply(wave, 7, 1, null, roomSteps);
        Assert.Contains("room tone", roomSteps);

        // All probabilities 0: the clip comes back unchanged.
        var none = new AudioAugmentation(new AudioAugmentationOptions
        {
            SpeedProbability = 0, TiltProbability = 0, ReverbProbability = 0, BackgroundProbability = 0, NoiseProbability = 0,
            GainProbability = 0, ClipProbability = 0, CodecProbability = 0,
        }, 44100, ffmpeg: "/nonexistent/ffmpeg-is-not-used");
        Assert.Equal(wave, none.Apply(wave, 7, 1, _ => other));
        Assert.Contains("probability 1.5", Assert.Throws<SonicDiffusion.Core.SonicException>(() => new AudioAugmentationOptions { NoiseProbability = 1.5 }.Validate()).Message);
    }

    [FfmpegFact]
    public void CodecRoundTripThroughFfmpegKeepsTheSoundRecognisable()
    {
        string ffmpeg = SonicDiffusion.Data.Import.Ffmpeg.TryLocate()!.FfmpegPath;
        var wave = Clip(WorldClass.WindNoise, 3);
        var codec = new AudioAugmentation(new AudioAugmentationOptions
        {
            SpeedProbability = 0, TiltProbability = 0, ReverbProbability = 0, BackgroundProbability = 0, NoiseProbability = 0,
            GainProbability = 0, ClipProbability = 0, CodecProbability = 1,
        }, 44100, ffmpeg);
        Assert.True(codec.HasCodec);
        foreach (ulong key in new ulong[] { 1, 2, 3, 4 })
        {
            var steps = new List<string>();
            var y = codec.Apply(wave, key, 1, null, steps);
            Assert.Single(steps);
            Assert.True(steps[0].StartsWith("mp3") || steps[0].StartsWith("ogg"), steps[0]);
            Assert.Equal(wave.Length, y.Length);
            double ratio = Dsp.Rms(y) / Dsp.Rms(wave);
            Assert.InRange(ratio, 0.7, 1.3);
        }
    }

    [Fact]
    public void MelCacheAugmentsAllCropsButTheFirst()
    {
        using var tmp = RepoPaths.NewTemp();
        WorldGenerator.Generate(tmp.File("world"), 5, 9, threads: 2);
        var manifest = DatasetManifest.Read(tmp.File("world/manifest.jsonl"));
        var rows = manifest.Rows.Take(3).ToList();
        var frontEnd = ClapTrainingOptions.DefaultFrontEnd;
        var aug = new AudioAugmentation(Everything, frontEnd.SampleRate, ffmpeg: "/nonexistent/ffmpeg-is-not-used");
        Assert.NotEqual(MelCache.ComputeKey(manifest, rows, frontEnd, 3), MelCache.ComputeKey(manifest, rows, frontEnd, 3, aug));
        using var plain = MelCache.LoadOrBuild(manifest, rows, frontEnd, 3, tmp.File("cache"));
        using var augmented = MelCache.LoadOrBuild(manifest, rows, frontEnd, 3, tmp.File("cache"), augment: aug);
        Assert.NotEqual(plain.FilePath, augmented.FilePath);
        using var scope = torch.NewDisposeScope();
        var p = plain.Read([0, 1, 2, 3, 4, 5, 6, 7, 8]);
        var a = augmented.Read([0, 1, 2, 3, 4, 5, 6, 7, 8]);
        for (int clip = 0; clip < 3; clip++)
        {
            Assert.True((p[clip * 3] - a[clip * 3]).abs().max().item<float>() == 0, $"clip {clip}: crop 0 must stay what inference computes");
            for (int k = 1; k < 3; k++)
                Assert.True((p[clip * 3 + k] - a[clip * 3 + k]).abs().mean().item<float>() > 0.05f, $"clip {clip} crop {k} was not augmented");
        }
    }
}
