namespace SonicDiffusion.Models;

/// <summary>
/// One place of the gated audio cross-attention: a UNet transformer block (its module path, e.g.
/// <c>up_blocks.1.attentions.0.transformer_blocks.0</c>), its width and attention heads.
/// </summary>
public sealed record AdapterSite(string Path, long Channels, int Heads)
{
    public int HeadDim => (int)(Channels / Heads);

    /// <summary>"down", "mid" or "up": the official placement flag that covers this site.</summary>
    public string Region => Path.StartsWith("down_blocks.", StringComparison.Ordinal) ? "down"
        : Path.StartsWith("mid_block.", StringComparison.Ordinal) ? "mid" : "up";
}
