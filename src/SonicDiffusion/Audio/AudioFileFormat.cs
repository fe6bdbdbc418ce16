namespace SonicDiffusion.Audio;

public enum AudioFileFormat { Unknown, Wav, Flac, Mp3, OggVorbis }
