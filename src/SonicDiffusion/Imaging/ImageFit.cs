namespace SonicDiffusion.Imaging;

/// <summary>How a source image of any size is brought to the model's input size for editing.</summary>
public enum ImageFit
{
    /// <summary>Official: shorter side to the native size, aspect kept, both sides rounded to multiples of 8, no crop.</summary>
    Resize,
    /// <summary>Centre square crop, scaled to native × native.</summary>
    Crop,
    /// <summary>Longer side to the native size, padded (mid grey) to native × native.</summary>
    Pad,
}
