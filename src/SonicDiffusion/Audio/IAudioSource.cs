namespace SonicDiffusion.Audio;

/// <summary>
/// Decoded audio that can be read in windows without decoding or holding the whole file: a WAV is read by seeking,
/// MP3 and Ogg Vorbis by seeking the decoder; other inputs are decoded in memory (see <see cref="AudioSources.Open"/>).
/// </summary>
public interface IAudioSource : IDisposable
{
    /// <summary>File name (for messages).</summary>
    string Name { get; }
    AudioFileFormat Format { get; }
    int SampleRate { get; }
    int Channels { get; }
    /// <summary>Frames (samples per channel) in the stream.</summary>
    long FrameCount { get; }

    /// <summary>
    /// The channel mean (as <see cref="AudioClip.ToMono"/>) of frames [start, start + count), cut at the end of the
    /// stream. Decoding failures are <see cref="Core.SonicException"/>s naming the file.
    /// </summary>
    float[] ReadMono(long start, int count);
}
