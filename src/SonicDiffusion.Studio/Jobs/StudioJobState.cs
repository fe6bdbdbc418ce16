namespace SonicDiffusion.Studio.Jobs;

public enum StudioJobState { Queued, Running, Done, Failed, Cancelled }
