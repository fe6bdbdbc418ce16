namespace SonicDiffusion.Audio;

/// <summary>What a decoded FLAC stream used: frame, subframe and residual coding counts (diagnostics and test coverage).</summary>
public sealed class FlacStreamStats
{
    public int Frames { get; internal set; }
    public int BitsPerSample { get; internal set; }
    public int ConstantSubframes { get; internal set; }
    public int VerbatimSubframes { get; internal set; }
    public int FixedSubframes { get; internal set; }
    public int LpcSubframes { get; internal set; }
    public int IndependentFrames { get; internal set; }
    public int LeftSideFrames { get; internal set; }
    public int RightSideFrames { get; internal set; }
    public int MidSideFrames { get; internal set; }
    public int RiceResiduals { get; internal set; }
    public int Rice2Residuals { get; internal set; }
    public int EscapedPartitions { get; internal set; }
    public int WastedBitsSubframes { get; internal set; }
    public int MaxPartitionOrder { get; internal set; }
    public int MaxFixedOrder { get; internal set; }
    public int MaxLpcOrder { get; internal set; }
    public int VariableBlockSizeFrames { get; internal set; }
    /// <summary>True when STREAMINFO carried an MD5 signature and the decoded samples matched it.</summary>
    public bool Md5Verified { get; internal set; }

    public override string ToString() =>
        $"frames {Frames} (indep {IndependentFrames}, L/S {LeftSideFrames}, R/S {RightSideFrames}, M/S {MidSideFrames}); " +
        $"subframes const {ConstantSubframes}, verbatim {VerbatimSubframes}, fixed {FixedSubframes} (max order {MaxFixedOrder}), " +
        $"lpc {LpcSubframes} (max order {MaxLpcOrder}); rice {RiceResiduals}, rice2 {Rice2Residuals}, escaped {EscapedPartitions}, " +
        $"max partition order {MaxPartitionOrder}; wasted-bits subframes {WastedBitsSubframes}; md5 {(Md5Verified ? "ok" : "not checked")}";
}
