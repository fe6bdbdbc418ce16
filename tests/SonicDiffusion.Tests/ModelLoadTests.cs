using SonicDiffusion.Core;
using SonicDiffusion.IO;
using SonicDiffusion.Models;
using SonicDiffusion.Pipelines;
using SonicDiffusion.Tests.Infrastructure;
using SonicDiffusion.Text;
using TorchSharp;
using static TorchSharp.torch;
using Cc = SonicDiffusion.IO.CheckpointConverter;

namespace SonicDiffusion.Tests;

/// <summary>Loading without a second copy and without random init, and the single-file names written for it.</summary>
public class ModelLoadTests
{
    private static List<string> Keys(string fixture, string file)
    {
        using var f = SafetensorsFile.Open(GoldenFixture.Get(fixture).PathOf(file));
        return [.. f.Names];
    }

    /// <summary>The reference code's own CompVis names (tiny fixtures), mapped forward, come back unchanged.</summary>
    [Fact]
    public void SingleFileNamesInvertTheReferenceCompVisNames()
    {
        using var unetFile = SafetensorsFile.Open(GoldenFixture.Get("unet_compvis_tiny").PathOf("unet.safetensors"));
        using var vaeFile = SafetensorsFile.Open(GoldenFixture.Get("vae_compvis_tiny").PathOf("vae.safetensors"));
        var unet = Cc.Shapes(unetFile, Cc.SdComponents.UNet).Keys;
        var vae = Cc.Shapes(vaeFile, Cc.SdComponents.Vae).Keys;
        var names = Cc.SingleFileNames(unet, vae, []);
        Assert.Equal(unetFile.Names.Concat(vaeFile.Names).Order(StringComparer.Ordinal), names.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, target) in names)
        {
            var stored = (target.Component == Cc.SdComponents.UNet ? unetFile : vaeFile).Info(key).Shape;
            Assert.True(target.ToConvKernel == (stored.Length == 4 && stored[2] == 1 && stored[3] == 1 && key.Contains(".attn_1.", StringComparison.Ordinal)), key);
        }
    }

    [Fact]
    public void SdV1SizedModelsHaveSingleFileNamesForEveryTensor()
    {
        var (unet, _) = UninitializedModules.Create(() => new UNet2DConditionModel(new UNet2DConditionConfig()), ScalarType.Float32);
        var (vae, _) = UninitializedModules.Create(() => new AutoencoderKL(new AutoencoderKLConfig()), ScalarType.Float32);
        using (unet)
        using (vae)
        {
            var names = Cc.SingleFileNames(unet.named_parameters().Select(p => p.name), vae.named_parameters().Select(p => p.name), ["text_model.final_layer_norm.weight"]);
            Assert.Equal(686, names.Count(kv => kv.Key.StartsWith(Cc.SingleFileUNetPrefix, StringComparison.Ordinal)));
            Assert.Contains("model.diffusion_model.output_blocks.2.1.conv.weight", names.Keys);
            Assert.Contains("model.diffusion_model.output_blocks.5.2.conv.weight", names.Keys);
            Assert.Contains("first_stage_model.decoder.up.3.upsample.conv.weight", names.Keys);
            Assert.Equal("decoder.up_blocks.0.upsamplers.0.conv.weight", names["first_stage_model.decoder.up.3.upsample.conv.weight"].InternalName);
            Assert.Equal(8, names.Values.Count(v => v.ToConvKernel));
            Assert.Contains("cond_stage_model.transformer.text_model.final_layer_norm.weight", names.Keys);
        }
    }

    [Fact]
    public void SdModulesAreBuiltWithoutRandomInitAndOthersFallBack()
    {
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            var (unet, skipped) = UninitializedModules.Create(() => new UNet2DConditionModel(TinyStableDiffusion.UNetConfig), dtype);
            using (unet)
            using (var reference = new UNet2DConditionModel(TinyStableDiffusion.UNetConfig))
            {
                Assert.True(skipped);
                var expected = reference.named_parameters().Select(p => (p.name, string.Join(",", p.parameter.shape))).ToList();
                Assert.Equal(expected, unet.named_parameters().Select(p => (p.name, string.Join(",", p.parameter.shape))).ToList());
                Assert.All(unet.parameters(), p => Assert.Equal((DeviceType.CPU, dtype), (p.device_type, p.dtype)));
            }
            var (vae, vaeSkipped) = UninitializedModules.Create(() => new AutoencoderKL(TinyStableDiffusion.VaeConfig), dtype);
            using (vae) Assert.True(vaeSkipped);
        }
        Assert.Equal(ScalarType.Float32, torch.get_default_dtype());
        using var probe = torch.zeros(1);
        Assert.Equal(DeviceType.CPU, probe.device_type);

        // a buffer (batch-norm running statistics) cannot be left uninitialised: the ordinary build, with its values
        var (bn, bnSkipped) = UninitializedModules.Create(() => nn.BatchNorm2d(4), ScalarType.Float32);
        using (bn)
        {
            Assert.False(bnSkipped);
            Assert.Equal(4.0, bn.named_buffers().Single(b => b.name == "running_var").buffer.sum().item<float>());
        }
    }

    /// <summary>A single file written with the internal → CompVis names loads back bit-exactly in both compute dtypes.</summary>
    [Theory]
    [InlineData("float32", "F32")]
    [InlineData("float32", "F16")]
    [InlineData("bfloat16", "F32")]
    public void SingleFileLoadsExactlyTheWeightsWritten(string computeName, string storedDtype)
    {
        var compute = computeName == "float32" ? ScalarType.Float32 : ScalarType.BFloat16;
        var stored = storedDtype == "F16" ? ScalarType.Float16 : ScalarType.Float32;
        using var temp = new TempDir();
        torch.manual_seed(3);
        // a single file's configs are inferred from shapes with SD v1's 32 norm groups
        using var unet = new UNet2DConditionModel(TinyStableDiffusion.UNetConfig with { NormNumGroups = 32 });
        using var vae = new AutoencoderKL(TinyStableDiffusion.VaeConfig with { BlockOutChannels = [32, 32, 32, 32], NormNumGroups = 32 });
        // and its text encoder hidden/64 heads (nothing else is inferable), so 64 wide here
        using var text = new ClipTextModel(TinyStableDiffusion.TextConfig with { HiddenSize = 64, NumAttentionHeads = 1, IntermediateSize = 128 });
        var modules = new Dictionary<Cc.SdComponents, nn.Module> { [Cc.SdComponents.UNet] = unet, [Cc.SdComponents.Vae] = vae, [Cc.SdComponents.TextEncoder] = text };
        var names = Cc.SingleFileNames(unet.named_parameters().Select(p => p.name), vae.named_parameters().Select(p => p.name), text.named_parameters().Select(p => p.name));
        var file = temp.File("tiny.safetensors");
        SafetensorsWriter.Write(file, names.Select(kv =>
        {
            var p = modules[kv.Value.Component].named_parameters().Single(x => x.name == kv.Value.InternalName).parameter;
            long[] shape = kv.Value.ToConvKernel ? [.. p.shape, 1, 1] : p.shape;
            return new SafetensorsWriter.Entry(kv.Key, SafetensorsFile.FromScalarType(stored), shape, () => p.detach().to_type(stored).reshape(shape), true);
        }));

        bool runnable = true;
        try { TorchRuntime.CheckComputeDtype(compute, torch.CPU); }
        catch (SonicException) { runnable = false; }
        if (!runnable)
        {
            Assert.Throws<SonicException>(() => StableDiffusionComponents.Load(file, new ModelLoadOptions { Dtype = compute }));
            return;
        }
        using var loaded = StableDiffusionComponents.Load(file, new ModelLoadOptions { Dtype = compute });
        var loadedModules = new Dictionary<Cc.SdComponents, nn.Module> { [Cc.SdComponents.UNet] = loaded.Unet, [Cc.SdComponents.Vae] = loaded.Vae, [Cc.SdComponents.TextEncoder] = loaded.TextEncoder };
        foreach (var (component, module) in modules)
        {
            var actual = loadedModules[component].named_parameters().ToDictionary(p => p.name, p => p.parameter);
            Assert.Equal(module.named_parameters().Count(), actual.Count);
            foreach (var (name, p) in module.named_parameters())
            {
                // what the file holds, rounded to the parameter's dtype (the text encoder computes in float32; narrow
                // convolutions are kept in float32 after rounding to the compute dtype)
                var target = component == Cc.SdComponents.TextEncoder ? ScalarType.Float32 : compute;
                using var expected = p.detach().to_type(stored).to_type(target).to_type(actual[name].dtype);
                TensorAssert.BitEqual(expected, actual[name].detach(), $"{component} {name}");
            }
        }
    }

    [Fact]
    public void CopyToFillsTheDestinationOrSaysWhyNot()
    {
        using var temp = new TempDir();
        var file = temp.File("t.safetensors");
        using var a = torch.randn(6, 5, dtype: ScalarType.Float16);
        using var k = torch.randn(3, 3, 1, 1);
        SafetensorsWriter.Write(file, new Dictionary<string, Tensor> { ["a"] = a, ["k"] = k });
        using var st = SafetensorsFile.Open(file);

        using var same = torch.empty(6, 5, dtype: ScalarType.Float16);
        st.CopyTo("a", same);
        TensorAssert.BitEqual(a, same, "same dtype");
        using var wider = torch.empty(6, 5);
        st.CopyTo("a", wider);
        TensorAssert.BitEqual(a.to_type(ScalarType.Float32), wider, "converted");
        using var linear = torch.empty(3, 3);
        st.CopyTo("k", linear);
        TensorAssert.BitEqual(k.reshape(3, 3), linear, "[C,C,1,1] into [C,C]");

        using var wrong = torch.empty(4, 5);
        var e = Assert.Throws<SonicException>(() => st.CopyTo("a", wrong));
        TensorAssert.IsOneLineNaming(e, file, "'a'");
    }
}
