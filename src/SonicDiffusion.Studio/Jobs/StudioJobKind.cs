namespace SonicDiffusion.Studio.Jobs;

public enum StudioJobKind { Generate, Edit }
