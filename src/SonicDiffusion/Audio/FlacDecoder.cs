using System.Buffers.Binary;
using System.Numerics;
using System.Security.Cryptography;

namespace SonicDiffusion.Audio;

/// <summary>
/// FLAC decoder for native FLAC streams ("fLaC" + metadata + frames) as encoders produce them: STREAMINFO (other
/// metadata blocks skipped), fixed or variable block size, CONSTANT / VERBATIM / FIXED / LPC subframes, wasted bits,
/// Rice and Rice2 partitioned residuals (escaped partitions too), independent and left/side, right/side, mid/side
/// stereo, 4 to 32 bits per sample. Header CRC-8, frame CRC-16 and the STREAMINFO MD5 are verified, so a damaged or
/// cut file is an error rather than noise. Samples are scaled like torchaudio: value / 2^(bits - 1).
/// Errors are <see cref="InvalidDataException"/>s with a one-line message; <see cref="AudioReader"/> adds the file name.
/// </summary>
public static class FlacDecoder
{
    public static bool IsFlac(ReadOnlySpan<byte> data) => data.Length >= 4 && data[..4].SequenceEqual("fLaC"u8);

    private sealed record StreamInfo(int MaxBlockSize, int SampleRate, int Channels, int BitsPerSample, long TotalSamples, byte[] Md5);

    public static AudioClip Decode(byte[] data, FlacStreamStats? stats = null) => Decode(data, 0, stats);

    public static AudioClip Decode(byte[] data, int offset, FlacStreamStats? stats = null)
    {
        if (!IsFlac(data.AsSpan(offset))) throw new InvalidDataException("not a FLAC stream (no fLaC marker)");
        int pos = offset + 4;
        StreamInfo? info = null;
        bool last = false;
        while (!last)
        {
            if (pos + 4 > data.Length) throw new InvalidDataException("FLAC metadata truncated");
            last = (data[pos] & 0x80) != 0;
            int type = data[pos] & 0x7F;
            int len = data[pos + 1] << 16 | data[pos + 2] << 8 | data[pos + 3];
            pos += 4;
            if (pos + len > data.Length) throw new InvalidDataException($"FLAC metadata block (type {type}) truncated");
            if (type == 0) info = ParseStreamInfo(data.AsSpan(pos, len));
            else if (type == 127) throw new InvalidDataException("FLAC metadata block type 127 is invalid");
            else if (info is null) throw new InvalidDataException("FLAC stream does not start with STREAMINFO");
            pos += len;
        }
        if (info is null) throw new InvalidDataException("FLAC stream has no STREAMINFO");
        if (stats != null) stats.BitsPerSample = info.BitsPerSample;
        return DecodeFrames(data, pos, info, stats);
    }

    private static StreamInfo ParseStreamInfo(ReadOnlySpan<byte> b)
    {
        if (b.Length < 34) throw new InvalidDataException($"FLAC STREAMINFO too short ({b.Length} bytes)");
        int maxBlock = BinaryPrimitives.ReadUInt16BigEndian(b[2..]);
        ulong packed = BinaryPrimitives.ReadUInt64BigEndian(b[10..]);
        int rate = (int)(packed >> 44);
        int channels = (int)((packed >> 41) & 7) + 1;
        int bps = (int)((packed >> 36) & 31) + 1;
        long total = (long)(packed & 0xF_FFFF_FFFFUL);
        if (rate == 0) throw new InvalidDataException("FLAC STREAMINFO sample rate is 0");
        if (bps < 4) throw new InvalidDataException($"FLAC bits per sample {bps} is invalid");
        return new StreamInfo(maxBlock, rate, channels, bps, total, b.Slice(18, 16).ToArray());
    }

    private static AudioClip DecodeFrames(byte[] data, int start, StreamInfo info, FlacStreamStats? stats)
    {
        int nch = info.Channels;
        long capacity = info.TotalSamples > 0 ? info.TotalSamples : Math.Max(4096, (data.Length - start) / nch);
        if (capacity > Array.MaxLength) throw new InvalidDataException($"FLAC stream too long ({info.TotalSamples} samples per channel)");
        var outCh = new float[nch][];
        for (int c = 0; c < nch; c++) outCh[c] = new float[capacity];
        long decoded = 0;

        float scale = MathF.ScaleB(1f, -(info.BitsPerSample - 1));
        bool checkMd5 = info.Md5.Any(x => x != 0);
        using var md5 = checkMd5 ? IncrementalHash.CreateHash(HashAlgorithmName.MD5) : null;
        int md5Bytes = (info.BitsPerSample + 7) / 8;
        byte[] md5Buf = [];

        var r = new BitReader(data, start, data.Length);
        var block = new long[nch][];
        for (int c = 0; c < nch; c++) block[c] = new long[Math.Max(16, info.MaxBlockSize)];
        while (true)
        {
            if (info.TotalSamples > 0 && decoded >= info.TotalSamples) break;
            int fpos = r.BytePosition;
            if (fpos >= data.Length) break;
            bool sync = fpos + 1 < data.Length && data[fpos] == 0xFF && (data[fpos + 1] & 0xFE) == 0xF8;
            if (!sync)
            {
                if (info.TotalSamples == 0) break; // trailing non-audio bytes (e.g. an ID3v1 tag) after a stream of unknown length
                throw new InvalidDataException($"FLAC frame sync not found at byte {fpos}");
            }
            int bs = DecodeFrame(r, data, info, block, stats);
            long need = decoded + bs;
            if (need > outCh[0].Length)
            {
                if (info.TotalSamples > 0) throw new InvalidDataException($"FLAC stream has more samples than STREAMINFO says ({info.TotalSamples})");
                long cap = Math.Min(Array.MaxLength, Math.Max(need, outCh[0].LongLength * 2));
                if (need > cap) throw new InvalidDataException("FLAC stream too long");
                for (int c = 0; c < nch; c++) Array.Resize(ref outCh[c], (int)cap);
            }
            for (int c = 0; c < nch; c++)
            {
                var src = block[c];
                var dst = outCh[c];
                for (int i = 0; i < bs; i++) dst[decoded + i] = src[i] * scale;
            }
            if (md5 != null)
            {
                int n = bs * nch * md5Bytes;
                if (md5Buf.Length < n) md5Buf = new byte[n];
                int p = 0;
                for (int i = 0; i < bs; i++)
                    for (int c = 0; c < nch; c++)
                    {
                        long v = block[c][i];
                        for (int k = 0; k < md5Bytes; k++) md5Buf[p++] = (byte)(v >> (8 * k));
                    }
                md5.AppendData(md5Buf, 0, n);
            }
            decoded += bs;
        }
        if (info.TotalSamples > 0 && decoded != info.TotalSamples)
            throw new InvalidDataException($"FLAC stream truncated ({decoded} of {info.TotalSamples} samples per channel)");
        if (md5 != null)
        {
            if (!md5.GetHashAndReset().AsSpan().SequenceEqual(info.Md5))
                throw new InvalidDataException("FLAC decoded audio does not match the MD5 signature in STREAMINFO (corrupt file)");
            if (stats != null) stats.Md5Verified = true;
        }
        if (decoded < outCh[0].Length)
            for (int c = 0; c < nch; c++) Array.Resize(ref outCh[c], (int)decoded);
        return new AudioClip(outCh, info.SampleRate);
    }

    private static readonly int[] SampleRates = [0, 88200, 176400, 192000, 8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000];
    private static readonly int[] SampleSizes = [0, 8, 12, -1, 16, 20, 24, 32];

    /// <summary>Decodes one frame at the reader's (byte-aligned) position into <paramref name="block"/>; returns its block size.</summary>
    private static int DecodeFrame(BitReader r, byte[] data, StreamInfo info, long[][] block, FlacStreamStats? stats)
    {
        int frameStart = r.BytePosition;
        r.ReadBits(15);
        bool variable = r.ReadBits(1) == 1;
        int bsCode = (int)r.ReadBits(4), srCode = (int)r.ReadBits(4), chCode = (int)r.ReadBits(4), bpsCode = (int)r.ReadBits(3);
        if (r.ReadBits(1) != 0) throw new InvalidDataException($"FLAC frame header at byte {frameStart} has its reserved bit set");
        ReadCodedNumber(r, frameStart);
        int bs = bsCode switch
        {
            0 => throw new InvalidDataException($"FLAC frame at byte {frameStart} uses the reserved block size code 0"),
            1 => 192,
            <= 5 => 576 << (bsCode - 2),
            6 => (int)r.ReadBits(8) + 1,
            7 => (int)r.ReadBits(16) + 1,
            _ => 256 << (bsCode - 8),
        };
        int rate = srCode switch
        {
            <= 11 => SampleRates[srCode],
            12 => (int)r.ReadBits(8) * 1000,
            13 => (int)r.ReadBits(16),
            14 => (int)r.ReadBits(16) * 10,
            _ => throw new InvalidDataException($"FLAC frame at byte {frameStart} has an invalid sample rate code"),
        };
        int headerEnd = r.BytePosition;
        int crc8 = (int)r.ReadBits(8);
        if (Crc8(data.AsSpan(frameStart, headerEnd - frameStart)) != crc8)
            throw new InvalidDataException($"FLAC frame header CRC mismatch at byte {frameStart} (corrupt file)");
        if (rate != 0 && rate != info.SampleRate)
            throw new InvalidDataException($"FLAC frame at byte {frameStart} has sample rate {rate}, STREAMINFO says {info.SampleRate}");
        int bps = bpsCode == 0 ? info.BitsPerSample : SampleSizes[bpsCode];
        if (bps < 0) throw new InvalidDataException($"FLAC frame at byte {frameStart} uses the reserved sample size code 3");
        if (bps != info.BitsPerSample)
            throw new InvalidDataException($"FLAC frame at byte {frameStart} has {bps} bits per sample, STREAMINFO says {info.BitsPerSample}");
        int nch = chCode < 8 ? chCode + 1 : chCode <= 10 ? 2 : throw new InvalidDataException($"FLAC frame at byte {frameStart} uses a reserved channel assignment ({chCode})");
        if (nch != info.Channels)
            throw new InvalidDataException($"FLAC frame at byte {frameStart} has {nch} channels, STREAMINFO says {info.Channels}");
        for (int c = 0; c < nch; c++)
            if (block[c].Length < bs) block[c] = new long[bs];

        for (int c = 0; c < nch; c++)
        {
            bool side = (chCode == 8 && c == 1) || (chCode == 9 && c == 0) || (chCode == 10 && c == 1);
            DecodeSubframe(r, block[c], bs, bps + (side ? 1 : 0), frameStart, stats);
        }
        r.AlignToByte();
        int crcEnd = r.BytePosition;
        int crc16 = (int)r.ReadBits(16);
        if (Crc16(data.AsSpan(frameStart, crcEnd - frameStart)) != crc16)
            throw new InvalidDataException($"FLAC frame CRC mismatch at byte {frameStart} (corrupt file)");

        if (chCode >= 8)
        {
            long[] a = block[0], b = block[1];
            for (int i = 0; i < bs; i++)
            {
                switch (chCode)
                {
                    case 8: b[i] = a[i] - b[i]; break;                // left, side -> left, right
                    case 9: a[i] += b[i]; break;                       // side, right -> left, right
                    default:
                        long side = b[i], mid = (a[i] << 1) | (side & 1);
                        a[i] = (mid + side) >> 1;
                        b[i] = (mid - side) >> 1;
                        break;
                }
            }
        }
        if (stats != null)
        {
            stats.Frames++;
            if (variable) stats.VariableBlockSizeFrames++;
            switch (chCode)
            {
                case 8: stats.LeftSideFrames++; break;
                case 9: stats.RightSideFrames++; break;
                case 10: stats.MidSideFrames++; break;
                default: stats.IndependentFrames++; break;
            }
        }
        return bs;
    }

    private static void ReadCodedNumber(BitReader r, int frameStart)
    {
        uint b0 = r.ReadBits(8);
        if ((b0 & 0x80) == 0) return;
        int ones = BitOperations.LeadingZeroCount(~b0 << 24);
        if (ones < 2 || ones > 7) throw new InvalidDataException($"FLAC frame at byte {frameStart} has an invalid coded frame number");
        for (int i = 1; i < ones; i++)
            if ((r.ReadBits(8) & 0xC0) != 0x80) throw new InvalidDataException($"FLAC frame at byte {frameStart} has an invalid coded frame number");
    }

    private static void DecodeSubframe(BitReader r, long[] s, int bs, int bps, int frameStart, FlacStreamStats? stats)
    {
        if (r.ReadBits(1) != 0) throw new InvalidDataException($"FLAC subframe in frame at byte {frameStart} has its padding bit set");
        int type = (int)r.ReadBits(6);
        int wasted = 0;
        if (r.ReadBits(1) == 1)
        {
            wasted = r.ReadUnary() + 1;
            if (wasted >= bps) throw new InvalidDataException($"FLAC subframe in frame at byte {frameStart} has {wasted} wasted bits of {bps}");
            if (stats != null) stats.WastedBitsSubframes++;
        }
        int b = bps - wasted;
        if (type == 0)
        {
            long v = r.ReadSigned(b);
            Array.Fill(s, v, 0, bs);
            if (stats != null) stats.ConstantSubframes++;
        }
        else if (type == 1)
        {
            for (int i = 0; i < bs; i++) s[i] = r.ReadSigned(b);
            if (stats != null) stats.VerbatimSubframes++;
        }
        else if (type is >= 8 and <= 12)
        {
            int order = type - 8;
            if (order > bs) throw new InvalidDataException($"FLAC subframe order {order} exceeds block size {bs} at byte {frameStart}");
            for (int i = 0; i < order; i++) s[i] = r.ReadSigned(b);
            DecodeResidual(r, s, bs, order, frameStart, stats);
            for (int i = order; i < bs; i++)
            {
                s[i] += order switch
                {
                    0 => 0,
                    1 => s[i - 1],
                    2 => 2 * s[i - 1] - s[i - 2],
                    3 => 3 * s[i - 1] - 3 * s[i - 2] + s[i - 3],
                    _ => 4 * s[i - 1] - 6 * s[i - 2] + 4 * s[i - 3] - s[i - 4],
                };
            }
            if (stats != null) { stats.FixedSubframes++; stats.MaxFixedOrder = Math.Max(stats.MaxFixedOrder, order); }
        }
        else if (type >= 32)
        {
            int order = type - 31;
            if (order > bs) throw new InvalidDataException($"FLAC subframe order {order} exceeds block size {bs} at byte {frameStart}");
            for (int i = 0; i < order; i++) s[i] = r.ReadSigned(b);
            int precision = (int)r.ReadBits(4) + 1;
            if (precision == 16) throw new InvalidDataException($"FLAC LPC subframe at byte {frameStart} has an invalid coefficient precision");
            int shift = (int)r.ReadSigned(5);
            if (shift < 0) throw new InvalidDataException($"FLAC LPC subframe at byte {frameStart} has a negative shift");
            Span<long> coef = stackalloc long[order];
            for (int j = 0; j < order; j++) coef[j] = r.ReadSigned(precision);
            DecodeResidual(r, s, bs, order, frameStart, stats);
            for (int i = order; i < bs; i++)
            {
                long sum = 0;
                for (int j = 0; j < order; j++) sum += coef[j] * s[i - 1 - j];
                s[i] += sum >> shift;
            }
            if (stats != null) { stats.LpcSubframes++; stats.MaxLpcOrder = Math.Max(stats.MaxLpcOrder, order); }
        }
        else throw new InvalidDataException($"FLAC subframe in frame at byte {frameStart} uses reserved type {type}");
        if (wasted > 0)
            for (int i = 0; i < bs; i++) s[i] <<= wasted;
    }

    /// <summary>Reads the residual of samples [order, bs) into <paramref name="s"/>.</summary>
    private static void DecodeResidual(BitReader r, long[] s, int bs, int order, int frameStart, FlacStreamStats? stats)
    {
        int method = (int)r.ReadBits(2);
        if (method > 1) throw new InvalidDataException($"FLAC residual at byte {frameStart} uses reserved coding method {method}");
        int paramBits = method == 0 ? 4 : 5, escape = method == 0 ? 15 : 31;
        int partOrder = (int)r.ReadBits(4);
        int partitions = 1 << partOrder;
        int perPart = bs >> partOrder;
        if (perPart << partOrder != bs || perPart < order)
            throw new InvalidDataException($"FLAC residual at byte {frameStart}: partition order {partOrder} does not fit block size {bs}");
        int i = order;
        for (int p = 0; p < partitions; p++)
        {
            int end = (p + 1) * perPart;
            int param = (int)r.ReadBits(paramBits);
            if (param == escape)
            {
                int raw = (int)r.ReadBits(5);
                for (; i < end; i++) s[i] = raw == 0 ? 0 : r.ReadSigned(raw);
                if (stats != null) stats.EscapedPartitions++;
            }
            else
            {
                for (; i < end; i++)
                {
                    ulong u = ((ulong)(uint)r.ReadUnary() << param) | r.ReadBits(param);
                    s[i] = (long)(u >> 1) ^ -(long)(u & 1);
                }
            }
        }
        if (stats != null)
        {
            if (method == 0) stats.RiceResiduals++; else stats.Rice2Residuals++;
            stats.MaxPartitionOrder = Math.Max(stats.MaxPartitionOrder, partOrder);
        }
    }

    private static int Crc8(ReadOnlySpan<byte> d)
    {
        int crc = 0;
        foreach (byte x in d)
        {
            crc ^= x;
            for (int k = 0; k < 8; k++) crc = (crc & 0x80) != 0 ? ((crc << 1) ^ 0x07) & 0xFF : (crc << 1) & 0xFF;
        }
        return crc;
    }

    private static readonly ushort[] Crc16Table = BuildCrc16Table();

    private static ushort[] BuildCrc16Table()
    {
        var t = new ushort[256];
        for (int i = 0; i < 256; i++)
        {
            int crc = i << 8;
            for (int k = 0; k < 8; k++) crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x8005 : crc << 1;
            t[i] = (ushort)crc;
        }
        return t;
    }

    private static int Crc16(ReadOnlySpan<byte> d)
    {
        int crc = 0;
        foreach (byte x in d) crc = ((crc << 8) ^ Crc16Table[((crc >> 8) ^ x) & 0xFF]) & 0xFFFF;
        return crc;
    }

    /// <summary>MSB-first bit reader with a 64-bit cache; reading past the end throws "truncated".</summary>
    private sealed class BitReader(byte[] data, int start, int end)
    {
        private int _next = start;
        private ulong _cache;
        private int _bits;

        public long BitPosition => (long)_next * 8 - _bits;
        public int BytePosition => (int)(BitPosition >> 3);

        private void Refill()
        {
            while (_bits <= 56)
            {
                ulong b = _next < end ? data[_next] : 0UL;
                _next++;
                _cache |= b << (56 - _bits);
                _bits += 8;
            }
        }

        private void CheckEnd()
        {
            if (BitPosition > (long)end * 8) throw new InvalidDataException("FLAC stream truncated");
        }

        public uint ReadBits(int n)
        {
            if (n == 0) return 0;
            if (_bits < n) Refill();
            uint v = (uint)(_cache >> (64 - n));
            _cache <<= n;
            _bits -= n;
            if (_next > end) CheckEnd();
            return v;
        }

        public long ReadSigned(int n)
        {
            if (n == 0) return 0;
            ulong raw = n > 32 ? ((ulong)ReadBits(n - 32) << 32) | ReadBits(32) : ReadBits(n);
            return (long)(raw << (64 - n)) >> (64 - n);
        }

        public int ReadUnary()
        {
            int count = 0;
            while (true)
            {
                if (_bits == 0) Refill();
                if (_cache != 0)
                {
                    int lz = BitOperations.LeadingZeroCount(_cache);
                    count += lz;
                    _cache <<= lz;
                    _cache <<= 1;
                    _bits -= lz + 1;
                    if (_next > end) CheckEnd();
                    return count;
                }
                count += _bits;
                _bits = 0;
                if (_next > end) CheckEnd();
            }
        }

        public void AlignToByte() => ReadBits(_bits & 7);
    }
}
