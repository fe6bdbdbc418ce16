using SonicDiffusion.Core;

namespace SonicDiffusion.Schedulers;

/// <summary>
/// diffusers' integer timestep grids (numpy arithmetic reproduced: <c>linspace</c> = i·step + start,
/// <c>arange</c> = start + i·step, <c>round</c> = half to even).
/// </summary>
public static class TimestepSpacing
{
    /// <summary>DDIM / PNDM grid in sampling (descending) order.</summary>
    public static int[] Descending(string spacing, int trainSteps, int steps, int stepsOffset, string source)
    {
        CheckSteps(trainSteps, steps, source);
        int[] ts = spacing switch
        {
            "linspace" => Linspace(0, trainSteps - 1, steps).Select(v => (int)Math.Round(v)).Reverse().ToArray(),
            "leading" => Enumerable.Range(0, steps).Select(k => k * (trainSteps / steps) + stepsOffset).Reverse().ToArray(),
            "trailing" => Arange(trainSteps, 0, -(double)trainSteps / steps).Select(v => (int)Math.Round(v) - 1).ToArray(),
            _ => throw new SonicException($"{source}: timestep_spacing '{spacing}' is not supported (use leading, linspace or trailing)"),
        };
        return CheckRange(ts, trainSteps, steps, source);
    }

    /// <summary>DPMSolverMultistep grid (N+1 points, the last dropped), in sampling order.</summary>
    public static int[] DpmSolver(string spacing, int trainSteps, int steps, int stepsOffset, string source)
    {
        CheckSteps(trainSteps, steps, source);
        int[] ts = spacing switch
        {
            "linspace" => Linspace(0, trainSteps - 1, steps + 1).Select(v => (int)Math.Round(v)).Reverse().Take(steps).ToArray(),
            "leading" => Enumerable.Range(0, steps + 1).Select(k => k * (trainSteps / (steps + 1))).Reverse().Take(steps)
                .Select(t => t + stepsOffset).ToArray(),
            "trailing" => Arange(trainSteps, 0, -(double)trainSteps / steps).Select(v => (int)Math.Round(v) - 1).ToArray(),
            _ => throw new SonicException($"{source}: timestep_spacing '{spacing}' is not supported (use leading, linspace or trailing)"),
        };
        return CheckRange(ts, trainSteps, steps, source);
    }

    private static void CheckSteps(int trainSteps, int steps, string source)
    {
        if (steps < 1 || steps > trainSteps)
            throw new SonicException($"{source}: {steps} inference steps is out of range (1..{trainSteps})");
    }

    private static int[] CheckRange(int[] ts, int trainSteps, int steps, string source)
    {
        foreach (var t in ts)
            if (t < 0 || t >= trainSteps)
                throw new SonicException($"{source}: {steps} inference steps give timestep {t}, outside 0..{trainSteps - 1} (lower the step count or steps_offset)");
        return ts;
    }

    private static double[] Linspace(double start, double stop, int num)
    {
        var y = new double[num];
        if (num == 1) { y[0] = start; return y; }
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++) y[i] = i * step + start;
        y[^1] = stop;
        return y;
    }

    private static double[] Arange(double start, double stop, double step)
    {
        int n = (int)Math.Ceiling((stop - start) / step);
        var y = new double[Math.Max(n, 0)];
        if (y.Length == 0) return y;
        // numpy's fill: delta = (start + step) - start, then start + i·delta
        double delta = (start + step) - start;
        for (int i = 0; i < y.Length; i++) y[i] = i == 1 ? start + step : start + i * delta;
        return y;
    }
}
