namespace SonicDiffusion.Audio;

/// <summary>Drains a decoder that returns interleaved float samples into per-channel arrays.</summary>
internal static class InterleavedReader
{
    /// <param name="read">read(buffer, offset, count) → floats written (0 at the end).</param>
    public static AudioClip ReadAll(int channels, int sampleRate, Func<float[], int, int, int> read, string what)
    {
        var buf = new float[4096 * channels];
        var outCh = new float[channels][];
        for (int c = 0; c < channels; c++) outCh[c] = new float[65536];
        long frames = 0;
        int carry = 0;
        while (true)
        {
            int got = read(buf, carry, buf.Length - carry);
            if (got <= 0) break;
            int total = carry + got;
            int whole = total / channels;
            if (frames + whole > outCh[0].Length)
            {
                long cap = Math.Max(frames + whole, outCh[0].LongLength * 2);
                if (cap > Array.MaxLength) throw new InvalidDataException($"{what} stream too long");
                for (int c = 0; c < channels; c++) Array.Resize(ref outCh[c], (int)cap);
            }
            for (int i = 0; i < whole; i++)
                for (int c = 0; c < channels; c++)
                    outCh[c][frames + i] = buf[i * channels + c];
            frames += whole;
            carry = total - whole * channels;
            if (carry > 0) Array.Copy(buf, whole * channels, buf, 0, carry);
        }
        for (int c = 0; c < channels; c++) Array.Resize(ref outCh[c], (int)frames);
        return new AudioClip(outCh, sampleRate);
    }
}
