using SonicDiffusion.Audio;
using SonicDiffusion.Core;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>clap_frontend fixtures: every case of every folder of that kind, driven by fixture.json.</summary>
public class ClapFrontEndParityTests
{
    public static TheoryData<string> Cases => GoldenFixture.CaseIds("clap_frontend");
    public static TheoryData<string> SpectrogramCases => GoldenFixture.CaseIds("clap_frontend", "power_spectrogram", "logmel", "wav_to_logmel");

    [Theory]
    [MemberData(nameof(Cases))]
    public void FixtureCase(string id) => RunCase(id, float64: true);

    /// <summary>The float32 compute path (torchlibrosa's own precision) must meet the same tolerances.</summary>
    [Theory]
    [MemberData(nameof(SpectrogramCases))]
    public void FixtureCaseInFloat32(string id) => RunCase(id, float64: false);

    private static ClapFrontEndConfig ConfigOf(GoldenFixture f, bool float64) =>
        ClapFrontEndConfig.FromJson(f.Config.ToJsonString(), f.Name + "/fixture.json config") with { ComputeFloat64 = float64 };

    private static void RunCase(string id, bool float64)
    {
        var (f, c) = GoldenFixture.Resolve(id);
        var cfg = ConfigOf(f, float64);
        using var scope = NewDisposeScope();
        using var fe = new ClapFrontEnd(cfg);
        var outputs = new Dictionary<string, Tensor>();
        var debug = new Dictionary<string, Tensor>();
        switch (c.Op)
        {
            case "hann_window":
                outputs["window"] = ClapFrontEnd.HannWindow((int)c.Param("n")!.Value);
                break;
            case "stft_kernel_rows":
            {
                int nFft = (int)(c.Param("n_fft") ?? cfg.NFft);
                var (re, im) = ClapFrontEnd.StftKernels(nFft, nFft == cfg.NFft ? cfg.WinLength : nFft);
                var rows = c.Input("rows");
                outputs["real_rows"] = re.squeeze(1).index_select(0, rows);
                outputs["imag_rows"] = im.squeeze(1).index_select(0, rows);
                break;
            }
            case "mel_filterbank":
                outputs["melW"] = fe.MelW.alias();
                break;
            case "power_spectrogram":
                outputs["power"] = fe.PowerSpectrogram(c.Input("waveform"));
                break;
            case "logmel":
                outputs["logmel"] = fe.LogMel(c.Input("waveform"));
                break;
            case "load_wav":
            {
                var clip = AudioReader.Read(c.InputAsset("wav")!);
                outputs["decoded"] = clip.ToTensor();
                outputs["mono"] = tensor(clip.ToMono()).unsqueeze(0);
                break;
            }
            case "resample":
            {
                int orig = (int)c.Param("orig_freq")!.Value, target = (int)c.Param("new_freq")!.Value;
                outputs["resampled"] = Resampler.Resample(c.Input("waveform"), orig, target, cfg.Resample);
                debug["kernel_rows"] = Resampler.Kernel(orig, target, cfg.Resample);
                break;
            }
            case "wav_to_logmel":
            {
                var clip = AudioReader.Read(c.InputAsset("wav")!);
                outputs["logmel"] = fe.LogMel(clip, (long)(c.Param("crop_start") ?? 0), debug);
                break;
            }
            default:
                Assert.Fail($"{id}: unknown clap_frontend op '{c.Op}'");
                break;
        }
        c.AssertAll(outputs, debug);
        // every debug role this op can produce was produced (so the debug comparison is not silently skipped)
        foreach (var role in c.DebugRoles) Assert.True(debug.ContainsKey(role), $"{id}: debug '{role}' not produced");
    }

    [Fact]
    public void SuppliedMelWeightsAreUsed()
    {
        // Doubling melW must raise every unclamped log-mel value by exactly 10·log10(2) dB.
        using var scope = NewDisposeScope();
        var cfg = new ClapFrontEndConfig();
        using var plain = new ClapFrontEnd(cfg);
        using var doubled = new ClapFrontEnd(cfg, melW: plain.MelW * 2);
        var wave = sin(arange(44100, ScalarType.Float32) * (2 * Math.PI * 1000 / 44100)) * 0.5f;
        var a = plain.LogMel(wave);
        var b = doubled.LogMel(wave);
        Assert.Equal(new long[] { 1, 1, 138, 64 }, a.shape);
        var mask = a.gt(-90);
        var delta = (b - a).masked_select(mask).to_type(ScalarType.Float64);
        Assert.True(mask.sum().item<long>() > 1000);
        Assert.True((delta - 10 * Math.Log10(2)).abs().max().item<double>() < 1e-4);   // float32 output rounding
    }

    [Fact]
    public void SuppliedStftWeightsAreUsedAndShapesChecked()
    {
        using var scope = NewDisposeScope();
        var cfg = new ClapFrontEndConfig();
        var (re, im) = ClapFrontEnd.StftKernels(cfg.NFft, cfg.WinLength);
        using var plain = new ClapFrontEnd(cfg);
        using var scaled = new ClapFrontEnd(cfg, stftReal: re * 2, stftImag: im * 2);
        var wave = randn(new long[] { 2, 8000 }, generator: new Generator(7)) * 0.1f;
        var ratio = (scaled.PowerSpectrogram(wave).to_type(ScalarType.Float64) / plain.PowerSpectrogram(wave).to_type(ScalarType.Float64));
        Assert.True((ratio - 4).abs().max().item<double>() < 1e-6);

        var ex = Assert.Throws<SonicException>(() => new ClapFrontEnd(cfg, melW: zeros(513, 32)));
        Assert.Contains(ClapFrontEnd.MelWKey, ex.Message);
        Assert.Throws<SonicException>(() => new ClapFrontEnd(cfg, stftReal: zeros(513, 1, 512), stftImag: im));
    }

    [Fact]
    public void CheckpointTensorsTakePrecedenceWhenPresent()
    {
        using var scope = NewDisposeScope();
        var cfg = new ClapFrontEndConfig();
        using var computed = new ClapFrontEnd(cfg);
        // the cnn14_tiny checkpoint carries no front-end tensors: everything is computed
        var tiny = GoldenFixture.Get("cnn14_tiny");
        using (var fe = ClapFrontEnd.FromTensorSource(cfg, tiny.Tensors((string)tiny.WeightsEntry("safetensors")!["file"]!)))
            Assert.True(fe.MelW.equal(computed.MelW).all().item<bool>());
        // a checkpoint that has melW: its values are used, the absent STFT rows are computed
        using var source = new DictionarySource(new() { [ClapFrontEnd.CheckpointPrefix + ClapFrontEnd.MelWKey] = computed.MelW * 0.5 });
        using var loaded = ClapFrontEnd.FromTensorSource(cfg, source);
        Assert.True(loaded.MelW.equal(computed.MelW * 0.5).all().item<bool>());
        Assert.True(loaded.StftReal.equal(computed.StftReal).all().item<bool>());
    }

    private sealed class DictionarySource(Dictionary<string, Tensor> tensors) : SonicDiffusion.IO.ITensorSource
    {
        public string Path => "<memory>";
        public IReadOnlyList<string> Names => tensors.Keys.ToList();
        public SonicDiffusion.IO.TensorInfo Info(string name) => new("F32", tensors[name].shape);
        public Tensor Read(string name, ScalarType? floatDtype = null) => tensors[name].to_type(floatDtype ?? ScalarType.Float32);
        public void Dispose() { }
    }

    [Fact]
    public void FitToLengthTilesShortClipsAndCropsLongOnes()
    {
        using var scope = NewDisposeScope();
        var shortClip = arange(7, ScalarType.Float32);
        var tiled = ClapFrontEnd.FitToLength(shortClip, 20, cropStart: 3);
        Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5 }, tiled.data<float>().ToArray());
        var exact = ClapFrontEnd.FitToLength(shortClip, 7);
        Assert.Equal(shortClip.data<float>().ToArray(), exact.data<float>().ToArray());
        var longClip = arange(30, ScalarType.Float32);
        Assert.Equal(new float[] { 0, 1, 2, 3 }, ClapFrontEnd.FitToLength(longClip, 4).data<float>().ToArray());
        Assert.Equal(new float[] { 26, 27, 28, 29 }, ClapFrontEnd.FitToLength(longClip, 4, 26).data<float>().ToArray());
        var ex = Assert.Throws<SonicException>(() => ClapFrontEnd.FitToLength(longClip, 4, 27));
        Assert.Contains("crop start 27", ex.Message);
        Assert.Throws<SonicException>(() => ClapFrontEnd.FitToLength(longClip, 4, -1));

        var rng = new Random(5);
        for (int i = 0; i < 200; i++) Assert.InRange(ClapFrontEnd.RandomCropStart(12, 10, rng), 0, 1);
        Assert.Equal(0, ClapFrontEnd.RandomCropStart(10, 10, rng));
    }

    [Fact]
    public void LongClipAt44kIsCroppedAtTheOffsetWithoutResampling()
    {
        using var scope = NewDisposeScope();
        var cfg = new ClapFrontEndConfig();
        var samples = Enumerable.Range(0, cfg.NumSamples + 1000).Select(i => (i % 1000) / 1000f).ToArray();
        var clip = new AudioClip([samples, samples.Select(x => -x).ToArray()], 44100);   // stereo: mean is 0
        var mono = AudioClip.FromMono(samples, 44100);
        using var fe = new ClapFrontEnd(cfg);
        var w = fe.PrepareWaveform(mono, cropStart: 500);
        Assert.Equal(cfg.NumSamples, w.shape[0]);
        Assert.Equal(samples.AsSpan(500, cfg.NumSamples).ToArray(), w.data<float>().ToArray());
        var silent = fe.PrepareWaveform(clip, cropStart: 1000);
        Assert.Equal(0f, silent.abs().max().item<float>());
        var batch = fe.PrepareBatch([mono, mono], cropStart: 1);
        Assert.Equal(new long[] { 2, cfg.NumSamples }, batch.shape);
        var logmel = fe.LogMel(batch);
        Assert.Equal(new long[] { 2, 1, 1379, 64 }, logmel.shape);
    }

    [Fact]
    public void ResamplerKeepsToneFrequencyAndLength()
    {
        using var scope = NewDisposeScope();
        const int from = 48000, to = 44100;
        var x = sin(arange(from, ScalarType.Float64) * (2 * Math.PI * 1000 / from)).to_type(ScalarType.Float32);
        var y = Resampler.Resample(x, from, to);
        Assert.Equal(44100, y.shape[0]);
        var expected = sin(arange(to, ScalarType.Float64) * (2 * Math.PI * 1000 / to));
        // away from the zero-padded edges the band-limited result is the same tone
        var err = (y.narrow(0, 100, to - 200).to_type(ScalarType.Float64) - expected.narrow(0, 100, to - 200)).abs().max().item<double>();
        Assert.True(err < 1e-3, $"max error {err}");
        Assert.Equal(new long[] { 147, 1, 2 * 7 + 160 }, Resampler.Kernel(from, to).shape);
        var same = Resampler.Resample(x, from, from);
        Assert.True(same.equal(x).all().item<bool>());
        // coprime rates give a kernel of 1200 x 1215 taps, computed and applied in two chunks of phases
        var z = Resampler.Resample(x.narrow(0, 0, 3000), 1201, 1200);
        Assert.Equal((1200L * 3000 + 1200) / 1201, z.shape[0]);
        var direct = Resampler.Kernel(1201, 1200).squeeze(1);
        var padded = nn.functional.pad(x.narrow(0, 0, 3000).to_type(ScalarType.Float64), new long[] { 7, 7 + 1201 });
        // output sample 1200·b + j = Σ_k kernel[j, k] · padded[1201·b + k]
        foreach (var (b, j) in new[] { (0, 0), (0, 1199), (1, 1000), (2, 17) })
        {
            double want = (direct[j].to_type(ScalarType.Float64) * padded.narrow(0, 1201 * b, 1215)).sum().item<double>();
            Assert.Equal(want, z[1200 * b + j].item<float>(), 1e-6);
        }
    }

    [Fact]
    public void ConfigValidationNamesTheBadValue()
    {
        var ex = Assert.Throws<SonicException>(() => ClapFrontEndConfig.FromJson("{\"window\": \"hamming\"}", "cfg.json"));
        Assert.StartsWith("cfg.json: window 'hamming'", ex.Message);
        ex = Assert.Throws<SonicException>(() => ClapFrontEndConfig.FromJson("{\"fmax\": 30000}", "cfg.json"));
        Assert.Contains("fmax 30000", ex.Message);
        var cfg = ClapFrontEndConfig.FromJson("{}");
        Assert.Equal(441000, cfg.NumSamples);
        Assert.Equal(1379, cfg.Frames(cfg.NumSamples));
        Assert.Equal(new ClapFrontEndConfig(), cfg with { Resample = new ResampleConfig() });
    }
}
