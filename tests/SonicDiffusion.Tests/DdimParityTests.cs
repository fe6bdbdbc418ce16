using SonicDiffusion.Schedulers;
using SonicDiffusion.Tests.Infrastructure;
using TorchSharp;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests;

/// <summary>Data-driven over every <c>ddim</c> fixture case (ops schedule, set_timesteps, sample, invert).</summary>
public class DdimParityTests
{
    public static TheoryData<string> Cases => GoldenFixture.CaseIds("ddim");

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesFixture(string id)
    {
        var (f, c) = GoldenFixture.Resolve(id);
        var cfg = SchedulerConfig.Parse(f.Config["scheduler"]!.ToJsonString(), $"{f.Name}/fixture.json config.scheduler");
        using var scope = NewDisposeScope();
        switch (c.Op)
        {
            case "schedule": Schedule(c, cfg); break;
            case "set_timesteps": SetTimesteps(c, cfg); break;
            case "sample": Sample(f, c, cfg); break;
            case "invert": Invert(f, c, cfg); break;
            default: Assert.Fail($"{id}: unknown ddim op '{c.Op}'"); break;
        }
    }

    private static void Schedule(FixtureCase c, SchedulerConfig cfg)
    {
        var s = new NoiseSchedule(cfg);
        var outputs = new Dictionary<string, Tensor>
        {
            ["betas"] = s.BetasTensor(),
            ["alphas_cumprod"] = s.AlphasCumprodTensor(),
        };
        var debug = new Dictionary<string, Tensor>();
        foreach (var role in c.DebugRoles)
        {
            var variant = role.StartsWith("alphas_cumprod_", StringComparison.Ordinal) ? role["alphas_cumprod_".Length..] : null;
            if (variant == "compvis_f32") debug[role] = s.AlphasCumprodTensor(ScalarType.Float32);
            else if (variant == "diffusers_f32") debug[role] = NoiseSchedule.AlphasCumprodFloat32Diffusers(cfg);
        }
        c.AssertAll(outputs, debug);
    }

    private static void SetTimesteps(FixtureCase c, SchedulerConfig cfg)
    {
        int steps = (int)c.Param("num_inference_steps")!;
        var ddim = new DdimScheduler(cfg);
        var ts = ddim.Timesteps(steps);
        var asc = ts.Reverse().ToArray();
        var alphas = asc.Select(t => ddim.AlphaCumprodOrFinal(t)).ToArray();
        var alphasPrev = asc.Select(t => ddim.AlphaCumprodOrFinal(ddim.PreviousTimestep(t, steps))).ToArray();
        c.AssertAll(new Dictionary<string, Tensor>
        {
            ["timesteps"] = tensor(ts.Select(t => (long)t).ToArray()),
            ["alphas"] = tensor(alphas).to_type(ScalarType.Float32),
            ["alphas_prev"] = tensor(alphasPrev).to_type(ScalarType.Float32),
            ["sqrt_one_minus_alphas"] = tensor(alphas.Select(a => Math.Sqrt(1 - a)).ToArray()).to_type(ScalarType.Float32),
        });
    }

    private static void Sample(GoldenFixture f, FixtureCase c, SchedulerConfig cfg)
    {
        int steps = (int)c.Param("num_inference_steps")!;
        double eta = c.Param("eta") ?? 0.0;
        Assert.True(eta == 0.0, $"{c.Name}: eta {eta} needs the sampler's noise, which the op contract does not carry");
        var ddim = new DdimScheduler(cfg, eta);
        using var model = ToyEpsModel.FromJson(f.Config["eps_model"]!, record: true);
        var xT = c.Input("x_T");
        var latents = new List<Tensor> { xT.clone() };
        var result = ddim.Sample(xT, steps, model.Fn, (i, n, t, x) => latents.Add(x.clone()));
        Assert.Equal(ddim.Timesteps(steps), model.CallTimesteps);
        Assert.True(result.equal(latents[^1]).all().item<bool>(), "Sample's result differs from the last callback latent");
        var predX0 = Enumerable.Range(0, steps)
            .Select(k => ddim.Predict(model.Outputs[k], model.CallTimesteps[k], latents[k]).PredX0).ToArray();
        c.AssertAll(new Dictionary<string, Tensor>
        {
            ["latents"] = stack(latents),
            ["pred_x0"] = stack(predX0),
            ["eps"] = stack(model.Outputs),
        });
    }

    private static void Invert(GoldenFixture f, FixtureCase c, SchedulerConfig cfg)
    {
        int steps = (int)c.Param("num_inference_steps")!;
        Assert.Equal("target", c.ParamString("eps_timestep"));
        var ddim = new DdimScheduler(cfg);
        using var model = ToyEpsModel.FromJson(f.Config["eps_model"]!, record: true);
        var latents = ddim.Invert(c.Input("x_0"), steps, model.Fn);
        Assert.Equal(steps + 1, latents.Count);
        Assert.Equal(ddim.InversionTimesteps(steps), model.CallTimesteps);
        c.AssertAll(new Dictionary<string, Tensor>
        {
            ["timesteps"] = tensor(ddim.InversionTimesteps(steps).Select(t => (long)t).ToArray()),
            ["latents"] = stack(latents),
            ["eps"] = stack(model.Outputs),
        });
    }
}
