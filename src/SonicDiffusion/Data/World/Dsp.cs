namespace SonicDiffusion.Data.World;

/// <summary>Second-order IIR section (RBJ audio-EQ cookbook), direct form I in double precision.</summary>
public sealed class Biquad
{
    private double _b0, _b1, _b2, _a1, _a2;
    private double _x1, _x2, _y1, _y2;

    public static Biquad Lowpass(double freq, double q, int sampleRate) { var f = new Biquad(); f.SetLowpass(freq, q, sampleRate); return f; }
    public static Biquad Highpass(double freq, double q, int sampleRate) { var f = new Biquad(); f.SetHighpass(freq, q, sampleRate); return f; }
    public static Biquad Bandpass(double freq, double q, int sampleRate) { var f = new Biquad(); f.SetBandpass(freq, q, sampleRate); return f; }

    public void SetLowpass(double freq, double q, int sampleRate)
    {
        var (cos, alpha) = Prewarp(freq, q, sampleRate);
        Set((1 - cos) / 2, 1 - cos, (1 - cos) / 2, 1 + alpha, -2 * cos, 1 - alpha);
    }

    public void SetHighpass(double freq, double q, int sampleRate)
    {
        var (cos, alpha) = Prewarp(freq, q, sampleRate);
        Set((1 + cos) / 2, -(1 + cos), (1 + cos) / 2, 1 + alpha, -2 * cos, 1 - alpha);
    }

    /// <summary>Band-pass with 0 dB gain at the centre frequency.</summary>
    public void SetBandpass(double freq, double q, int sampleRate)
    {
        var (cos, alpha) = Prewarp(freq, q, sampleRate);
        Set(alpha, 0, -alpha, 1 + alpha, -2 * cos, 1 - alpha);
    }

    private static (double Cos, double Alpha) Prewarp(double freq, double q, int sampleRate)
    {
        double w = 2 * Math.PI * Math.Clamp(freq, 10, sampleRate * 0.45) / sampleRate;
        return (Math.Cos(w), Math.Sin(w) / (2 * q));
    }

    private void Set(double b0, double b1, double b2, double a0, double a1, double a2)
    {
        _b0 = b0 / a0; _b1 = b1 / a0; _b2 = b2 / a0; _a1 = a1 / a0; _a2 = a2 / a0;
    }

    public double Process(double x)
    {
        double y = _b0 * x + _b1 * _x1 + _b2 * _x2 - _a1 * _y1 - _a2 * _y2;
        _x2 = _x1; _x1 = x;
        _y2 = _y1; _y1 = y;
        return y;
    }

    public void ProcessInPlace(Span<double> buffer)
    {
        for (int i = 0; i < buffer.Length; i++) buffer[i] = Process(buffer[i]);
    }
}

/// <summary>Noise sources and envelopes shared by the sound recipes.</summary>
public static class Dsp
{
    /// <summary>Uniform white noise in [-1, 1).</summary>
    public static double[] White(WorldRandom rng, int n)
    {
        var x = new double[n];
        for (int i = 0; i < n; i++) x[i] = rng.Signed();
        return x;
    }

    /// <summary>Pink (1/f) noise by Paul Kellet's filter, roughly unit peak.</summary>
    public static double[] Pink(WorldRandom rng, int n)
    {
        var x = new double[n];
        double b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0;
        for (int i = 0; i < n; i++)
        {
            double w = rng.Signed();
            b0 = 0.99886 * b0 + w * 0.0555179;
            b1 = 0.99332 * b1 + w * 0.0750759;
            b2 = 0.96900 * b2 + w * 0.1538520;
            b3 = 0.86650 * b3 + w * 0.3104856;
            b4 = 0.55000 * b4 + w * 0.5329522;
            b5 = -0.7616 * b5 - w * 0.0168980;
            x[i] = (b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362) * 0.2;
            b6 = w * 0.115926;
        }
        return x;
    }

    /// <summary>Brown (1/f²) noise from leaky integration, roughly unit peak.</summary>
    public static double[] Brown(WorldRandom rng, int n)
    {
        var x = new double[n];
        double s = 0;
        for (int i = 0; i < n; i++)
        {
            s = 0.998 * s + 0.06 * rng.Signed();
            x[i] = s;
        }
        return x;
    }

    /// <summary>A smooth random curve in [0, 1] with about <paramref name="rate"/> new targets per second (cosine interpolation).</summary>
    public static double[] SmoothRandom(WorldRandom rng, int n, int sampleRate, double rate, double lo = 0, double hi = 1)
    {
        var x = new double[n];
        int seg = Math.Max(1, (int)(sampleRate / rate));
        double a = rng.Uniform(lo, hi), b = rng.Uniform(lo, hi);
        for (int i = 0; i < n; i++)
        {
            int k = i % seg;
            if (k == 0 && i > 0) { a = b; b = rng.Uniform(lo, hi); }
            double t = (1 - Math.Cos(Math.PI * k / seg)) / 2;
            x[i] = a + (b - a) * t;
        }
        return x;
    }

    /// <summary>Adds a decaying sinusoid whose frequency glides exponentially from f0 to f1 (a bubble, a drop, a thump).</summary>
    public static void AddChirp(Span<double> buf, int sampleRate, double start, double f0, double f1, double duration, double amp, double tau)
    {
        int i0 = (int)(start * sampleRate);
        int glide = Math.Max(1, (int)(duration * sampleRate));
        int n = Math.Min(glide, (int)(8 * tau * sampleRate) + 1);
        double fMul = Math.Exp(Math.Log(f1 / f0) / glide), decay = Math.Exp(-1.0 / (tau * sampleRate));
        double phase = 0, f = f0, env = amp;
        int attack = Math.Max(1, sampleRate / 2000);
        for (int k = 0; k < n; k++)
        {
            int i = i0 + k;
            if (i >= buf.Length) break;
            phase += 2 * Math.PI * f / sampleRate;
            if (i >= 0) buf[i] += env * Math.Min(1.0, (double)k / attack) * Math.Sin(phase);
            f *= fMul;
            env *= decay;
        }
    }

    /// <summary>Adds an exponentially decaying burst of (pre-filtered) noise taken from <paramref name="noise"/>.</summary>
    public static void AddBurst(Span<double> buf, int sampleRate, double start, ReadOnlySpan<double> noise, double amp, double attack, double tau, double length)
    {
        int i0 = (int)(start * sampleRate);
        int n = Math.Min((int)(length * sampleRate), noise.Length);
        int att = Math.Max(1, (int)(attack * sampleRate));
        double env = amp, decay = Math.Exp(-1.0 / (tau * sampleRate));
        for (int k = 0; k < n; k++)
        {
            int i = i0 + k;
            if (i >= buf.Length) break;
            if (i >= 0) buf[i] += env * Math.Min(1.0, (double)k / att) * noise[k];
            env *= decay;
        }
    }

    /// <summary>
    /// Adds one gas bubble's ring (Minnaert resonance, f = 3.26 m/s / radius) with the van den Doel damping and the
    /// upward glide of a bubble that nears the surface; <paramref name="rise"/> scales the glide (0.1 is typical).
    /// </summary>
    public static void AddBubble(Span<double> buf, int sampleRate, double start, double radiusMm, double amp, double rise = 0.1)
    {
        double r = radiusMm * 1e-3;
        double f0 = 3.26 / r, damping = 0.13 / r + 0.0072 * Math.Pow(r, -1.5), tau = 1 / damping, duration = 4.5 * tau;
        AddChirp(buf, sampleRate, start, f0, f0 * (1 + rise * damping * duration), duration, amp, tau);
    }

    /// <summary>Adds an impulse at time <paramref name="start"/> (ignored past the end), to be shaped by a filter afterwards.</summary>
    public static void AddImpulse(double[] buf, int sampleRate, double start, double amp)
    {
        int k = (int)(start * sampleRate);
        if (k >= 0 && k < buf.Length) buf[k] += amp;
    }

    /// <summary>Adds delayed, low-passed and attenuated copies of the signal to itself (a far wall, a valley, a hill).</summary>
    public static void AddEchoes(double[] x, int sampleRate, ReadOnlySpan<double> delays, ReadOnlySpan<double> gains, double lowpassHz)
    {
        var dry = (double[])x.Clone();
        for (int e = 0; e < delays.Length; e++)
        {
            int d = (int)(delays[e] * sampleRate);
            if (d <= 0 || d >= x.Length) continue;
            var lp = Biquad.Lowpass(lowpassHz, 0.7, sampleRate);
            for (int k = d; k < x.Length; k++) x[k] += gains[e] * lp.Process(dry[k - d]);
        }
    }

    /// <summary>Runs the filter over the whole buffer in place and returns it.</summary>
    public static double[] Filtered(double[] x, Biquad filter)
    {
        filter.ProcessInPlace(x);
        return x;
    }

    /// <summary>Filtered noise scaled to the given RMS (a background bed).</summary>
    public static double[] Bed(double[] noise, Biquad filter, double rms)
    {
        var x = Filtered(noise, filter);
        Normalize(x, rms);
        return x;
    }

    /// <summary>Scales the buffer to the given RMS (a silent buffer stays silent).</summary>
    public static void Normalize(double[] x, double targetRms)
    {
        double s = 0;
        foreach (var v in x) s += v * v;
        double rms = Math.Sqrt(s / Math.Max(1, x.Length));
        if (rms < 1e-12) return;
        double g = targetRms / rms;
        for (int k = 0; k < x.Length; k++) x[k] *= g;
    }

    public static double Rms(ReadOnlySpan<float> x)
    {
        double s = 0;
        foreach (var v in x) s += (double)v * v;
        return x.Length == 0 ? 0 : Math.Sqrt(s / x.Length);
    }

    public static double Db(double db) => Math.Pow(10, db / 20);
}
