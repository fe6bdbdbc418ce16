namespace SonicDiffusion.Core;

/// <summary>An error caused by user input (file, key, value). The CLI prints its message as one line.</summary>
public class SonicException : Exception
{
    public SonicException(string message) : base(message) { }
    public SonicException(string message, Exception inner) : base(message, inner) { }
}
