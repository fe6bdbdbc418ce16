using System.Text.Json.Nodes;
using SonicDiffusion.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace SonicDiffusion.Tests.Infrastructure;

/// <summary>
/// A tiny regression task for engine tests: frozen Linear(4,4) "encoder" → Linear(4,16) → BatchNorm1d → ReLU →
/// dropout (torch's default generator) → Linear(16,2), inputs jittered with noise from the engine's generator, so both
/// checkpointed RNG streams and BatchNorm buffers are exercised. Weights and data come from fixed seeds only.
/// </summary>
public sealed class TinyTrainingTask : ITrainingTask, IDisposable
{
    public sealed class Net : nn.Module<Tensor, Tensor>
    {
        public readonly Linear encoder;
        public readonly Linear hidden;
        public readonly BatchNorm1d norm;
        public readonly Linear head;
        public double DropoutP { get; init; } = 0.2;

        public Net() : base("tiny")
        {
            encoder = nn.Linear(4, 4);
            hidden = nn.Linear(4, 16);
            norm = nn.BatchNorm1d(16);
            head = nn.Linear(16, 2);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            var h = nn.functional.relu(norm.forward(hidden.forward(encoder.forward(x))));
            return head.forward(nn.functional.dropout(h, DropoutP, training));
        }
    }

    private readonly Tensor _x;
    private readonly Tensor _y;

    public Net Model { get; }
    public long DatasetSize { get; }
    public bool FreezeEncoder { get; }
    public double? HeadLearningRate { get; }
    /// <summary>Throws from ComputeLoss at this 0-based step, simulating a crash with no clean shutdown.</summary>
    public long? CrashAtStep { get; set; }
    /// <summary>Called at the start of every ComputeLoss (tests use it to observe the run).</summary>
    public Action<TrainingBatch>? OnBatch { get; set; }

    public TinyTrainingTask(long datasetSize = 64, bool freezeEncoder = true, double? headLearningRate = null, double dropout = 0.2)
    {
        DatasetSize = datasetSize;
        FreezeEncoder = freezeEncoder;
        HeadLearningRate = headLearningRate;
        Model = new Net { DropoutP = dropout };
        using var g = new Generator(1234, torch.CPU);
        using (torch.no_grad())
            foreach (var (_, p) in Model.named_parameters())
                p.copy_(torch.randn(p.shape, generator: g) * 0.5);
        if (freezeEncoder) ModuleFreezer.Freeze(Model.encoder);
        Model.train();
        _x = torch.randn([datasetSize, 4], generator: g).DetachFromDisposeScope();
        var w = torch.randn([4, 2], generator: g);
        _y = (torch.sin(_x.matmul(w)) + 0.5 * _x[.., ..2]).DetachFromDisposeScope();
        w.Dispose();
    }

    public IReadOnlyList<ParameterGroup> ParameterGroups =>
    [
        new ParameterGroup("body", ModuleFreezer.Trainable(Model).Where(p => !p.Name.StartsWith("head.", StringComparison.Ordinal))
            .Select(p => ("tiny." + p.Name, p.Parameter)).ToList()),
        ParameterGroup.FromModule("head", Model.head, "tiny.head.", HeadLearningRate),
    ];

    public JsonObject? Config => new() { ["kind"] = "tiny-regression", ["dataset_size"] = DatasetSize, ["freeze_encoder"] = FreezeEncoder };

    public IEnumerable<(string Name, Tensor Tensor)> StateBuffers => Model.named_buffers().Select(b => ("tiny." + b.name, b.buffer));

    public TrainingLoss ComputeLoss(TrainingBatch batch)
    {
        OnBatch?.Invoke(batch);
        if (CrashAtStep == batch.Step) throw new InvalidOperationException($"simulated crash at step {batch.Step}");
        var idx = torch.tensor(batch.Indices);
        var x = _x.index_select(0, idx);
        x = x + 0.05 * torch.randn(x.shape, generator: batch.Generator);
        var pred = Model.forward(x);
        var mse = nn.functional.mse_loss(pred, _y.index_select(0, idx));
        var l2 = Model.head.weight!.pow(2).mean();
        return new TrainingLoss(mse + 1e-3 * l2, new Dictionary<string, Tensor> { ["mse"] = mse, ["l2"] = l2 });
    }

    /// <summary>The config the engine tests use unless they override fields.</summary>
    public static TrainingConfig DefaultConfig(long totalSteps) => new()
    {
        Seed = 7,
        TotalSteps = totalSteps,
        BatchSize = 8,
        LearningRate = 3e-2,
        WeightDecay = 0.01,
        LrSchedule = new LrSchedule { Kind = LrSchedule.Cosine, WarmupSteps = 5, MinLrRatio = 0.1 },
        MaxGradNorm = 0.5,
        EmaDecay = 0.95,
        CheckpointEvery = 7,
        KeepLast = 3,
        PlotLoss = false,
    };

    public void Dispose()
    {
        _x.Dispose();
        _y.Dispose();
        Model.Dispose();
    }
}
