/**
 * WAV (RIFF/WAVE) reading and writing.
 *
 * The decoder is incremental and tolerant of what TTS servers really send: headers split
 * across network chunks, LIST/fact/other chunks before `data`, streamed files whose sizes
 * are unknown (0 or 0xFFFFFFFF, RF64 placeholders), several WAV files back to back in one
 * response, and samples split across chunk boundaries. Anything not RIFF/WAVE, or a codec
 * it cannot read, is an AudioFormatError.
 */
import { AudioFormatError } from './errors.ts';
import type { Encoding, Pcm } from './format.ts';
import { bytesPerSample } from './format.ts';
import { encodeInto } from './encode.ts';
import { concatSamples, FrameAssembler, type SampleKind } from './samples.ts';

/** WAVE_FORMAT_* tags we read and write. */
export const WAVE_FORMAT = { PCM: 1, IEEE_FLOAT: 3, ALAW: 6, MULAW: 7, EXTENSIBLE: 0xfffe } as const;

/** What the decoder learnt from the `fmt ` chunk (and the `data` chunk header). */
export interface WavFormat {
  /** Format tag after resolving WAVE_FORMAT_EXTENSIBLE to its sub-format. */
  readonly formatTag: number;
  readonly kind: SampleKind;
  readonly channels: number;
  readonly sampleRate: number;
  /** Container bits per sample (wBitsPerSample). */
  readonly bitsPerSample: number;
  /** Bytes of the `data` chunk, or null when the stream did not say (read to end of stream). */
  readonly dataBytes: number | null;
}

export interface WavDecoder {
  /** Feeds bytes; returns the audio they completed (usually zero or one Pcm). */
  push(bytes: Uint8Array): Pcm[];
  /** End of stream: drops an incomplete trailing sample; throws 'truncated' if no data chunk was reached. */
  end(): void;
  /** The current file's format, once its `fmt ` chunk has been read. */
  readonly format: WavFormat | null;
}

/** Data sizes at or above this are placeholders written by streaming encoders, not real sizes. */
const UNKNOWN_SIZE_THRESHOLD = 0x7fff0000;

const enum State {
  RiffHeader, // want 12 bytes: RIFF <size> WAVE
  ChunkHeader, // want 8 bytes: <id> <size>
  ChunkBody, // want `need` bytes of a chunk we parse (fmt)
  Skip, // skipping `skipRemaining` bytes of a chunk we ignore
  Data, // audio: `dataRemaining` bytes (Infinity = to end of stream)
}

function fourcc(b: Uint8Array, p: number): string {
  return String.fromCharCode(b[p], b[p + 1], b[p + 2], b[p + 3]);
}

function u32(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}

function u16(b: Uint8Array, p: number): number {
  return b[p] | (b[p + 1] << 8);
}

function parseFmt(body: Uint8Array): Omit<WavFormat, 'dataBytes'> {
  if (body.length < 16) throw new AudioFormatError('bad_header', `fmt chunk is ${body.length} bytes, needs at least 16`);
  let formatTag = u16(body, 0);
  const channels = u16(body, 2);
  const sampleRate = u32(body, 4);
  const bitsPerSample = u16(body, 14);
  if (formatTag === WAVE_FORMAT.EXTENSIBLE) {
    if (body.length < 26) throw new AudioFormatError('bad_header', 'WAVE_FORMAT_EXTENSIBLE fmt chunk lacks its sub-format');
    formatTag = u16(body, 24); // first two bytes of the sub-format GUID are the format tag
  }
  if (channels === 0) throw new AudioFormatError('bad_header', 'WAV declares 0 channels');
  if (sampleRate === 0) throw new AudioFormatError('bad_header', 'WAV declares a sample rate of 0');
  let kind: SampleKind;
  let ok: boolean;
  switch (formatTag) {
    case WAVE_FORMAT.PCM:
      kind = 'int';
      ok = bitsPerSample === 8 || bitsPerSample === 16 || bitsPerSample === 24 || bitsPerSample === 32;
      break;
    case WAVE_FORMAT.IEEE_FLOAT:
      kind = 'float';
      ok = bitsPerSample === 32 || bitsPerSample === 64;
      break;
    case WAVE_FORMAT.MULAW:
      kind = 'mulaw';
      ok = bitsPerSample === 8;
      break;
    case WAVE_FORMAT.ALAW:
      kind = 'alaw';
      ok = bitsPerSample === 8;
      break;
    default:
      throw new AudioFormatError('unsupported_format', `WAV format tag 0x${formatTag.toString(16)} is not supported`);
  }
  if (!ok) throw new AudioFormatError('unsupported_format', `WAV format tag ${formatTag} with ${bitsPerSample} bits per sample is not supported`);
  return { formatTag, kind, channels, sampleRate, bitsPerSample };
}

/** Incremental WAV decoder; see the module comment for what it tolerates. */
export function createWavDecoder(): WavDecoder {
  let state: State = State.RiffHeader;
  // Header bytes collected so far (headers are small; audio never goes through here).
  let head = new Uint8Array(64);
  let headLength = 0;
  let need = 12;
  let chunkId = '';
  let chunkPad = 0;
  let skipRemaining = 0;
  let dataRemaining = 0;
  let fmt: Omit<WavFormat, 'dataBytes'> | null = null;
  let format: WavFormat | null = null;
  let assembler: FrameAssembler | null = null;
  let sawData = false;
  let filesStarted = 0;

  function want(n: number): void {
    need = n;
    headLength = 0;
    if (head.length < n) head = new Uint8Array(n);
  }

  function onHeader(out: Pcm[]): void {
    switch (state) {
      case State.RiffHeader: {
        const id = fourcc(head, 0);
        if ((id !== 'RIFF' && id !== 'RF64') || fourcc(head, 8) !== 'WAVE') {
          throw new AudioFormatError('not_wav', filesStarted === 0 ? 'stream is not a RIFF/WAVE file' : 'bytes after the WAV data are not another WAV file');
        }
        filesStarted++;
        state = State.ChunkHeader;
        want(8);
        return;
      }
      case State.ChunkHeader: {
        chunkId = fourcc(head, 0);
        const size = u32(head, 4);
        if (chunkId === 'RIFF' || chunkId === 'RF64') {
          // Another file follows the previous one's data (servers that send one WAV per sentence).
          // We have its first 8 bytes; 'WAVE' follows.
          head.copyWithin(0, 0, 8);
          state = State.RiffHeader;
          need = 12;
          headLength = 8;
          return;
        }
        if (chunkId === 'data') {
          if (fmt === null) throw new AudioFormatError('bad_header', 'data chunk before fmt chunk');
          const unknown = size === 0 || size >= UNKNOWN_SIZE_THRESHOLD;
          dataRemaining = unknown ? Infinity : size;
          chunkPad = size & 1;
          format = { ...fmt, dataBytes: unknown ? null : size };
          sawData = true;
          state = State.Data;
          return;
        }
        if (chunkId === 'fmt ') {
          if (size > 4096) throw new AudioFormatError('bad_header', `fmt chunk of ${size} bytes`);
          chunkPad = size & 1;
          state = State.ChunkBody;
          want(size + chunkPad);
          if (need === 0) onHeader(out);
          return;
        }
        if (size >= UNKNOWN_SIZE_THRESHOLD) throw new AudioFormatError('bad_header', `chunk '${chunkId}' has no usable size`);
        skipRemaining = size + (size & 1);
        state = State.Skip;
        return;
      }
      case State.ChunkBody: {
        fmt = parseFmt(head.subarray(0, need - chunkPad));
        format = { ...fmt, dataBytes: null };
        assembler = new FrameAssembler({ kind: fmt.kind, bytesPerSample: fmt.bitsPerSample >> 3, channels: fmt.channels });
        state = State.ChunkHeader;
        want(8);
        return;
      }
      default:
        return;
    }
  }

  return {
    get format() {
      return format;
    },
    push(bytes) {
      const out: Pcm[] = [];
      let pos = 0;
      const len = bytes.length;
      while (pos < len) {
        if (state === State.Data) {
          const take = Math.min(len - pos, dataRemaining);
          const samples = assembler!.push(bytes, pos, pos + take);
          if (samples !== null) out.push({ samples, sampleRate: fmt!.sampleRate });
          pos += take;
          dataRemaining -= take;
          if (dataRemaining === 0) {
            assembler!.discardPartial();
            if (chunkPad > 0) {
              skipRemaining = chunkPad;
              state = State.Skip;
            } else {
              state = State.ChunkHeader;
              want(8);
            }
          }
        } else if (state === State.Skip) {
          const take = Math.min(len - pos, skipRemaining);
          pos += take;
          skipRemaining -= take;
          if (skipRemaining === 0) {
            state = State.ChunkHeader;
            want(8);
          }
        } else {
          const take = Math.min(len - pos, need - headLength);
          head.set(bytes.subarray(pos, pos + take), headLength);
          headLength += take;
          pos += take;
          if (headLength === need) onHeader(out);
        }
      }
      return out;
    },
    end() {
      if (!sawData) {
        throw new AudioFormatError('truncated', filesStarted === 0 && headLength === 0 ? 'empty WAV stream' : 'WAV stream ended before its data chunk');
      }
      assembler?.discardPartial();
    },
  };
}

/** Decodes a complete WAV file held in memory into one Pcm (mono). */
export function decodeWav(bytes: Uint8Array): Pcm {
  const decoder = createWavDecoder();
  const parts = decoder.push(bytes);
  decoder.end();
  const rate = decoder.format!.sampleRate;
  if (parts.length === 1) return parts[0];
  return { samples: concatSamples(parts.map((p) => p.samples)), sampleRate: rate };
}

const STREAMING_SIZE = 0xffffffff;

function formatTagOf(encoding: Encoding): number {
  switch (encoding) {
    case 'pcm_s16le':
      return WAVE_FORMAT.PCM;
    case 'pcm_f32le':
      return WAVE_FORMAT.IEEE_FLOAT;
    case 'pcm_mulaw':
      return WAVE_FORMAT.MULAW;
    case 'pcm_alaw':
      return WAVE_FORMAT.ALAW;
  }
}

/**
 * A mono WAV header for `encoding`. `dataBytes` null = streaming with unknown length: RIFF
 * and data sizes are 0xFFFFFFFF (what ffmpeg and most players accept for pipes).
 * PCM gets the canonical 44-byte header; float and G.711 get an 18-byte fmt and a fact
 * chunk, as the RIFF spec asks for non-PCM formats (58 bytes).
 */
export function wavHeader(sampleRate: number, encoding: Encoding, dataBytes: number | null): Buffer {
  const tag = formatTagOf(encoding);
  const pcm = tag === WAVE_FORMAT.PCM;
  const fmtSize = pcm ? 16 : 18;
  const headerBytes = 12 + 8 + fmtSize + (pcm ? 0 : 12) + 8;
  const bps = bytesPerSample(encoding);
  const h = Buffer.alloc(headerBytes);
  const streaming = dataBytes === null;
  const riffSize = streaming ? STREAMING_SIZE : headerBytes - 8 + dataBytes + (dataBytes & 1);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(riffSize, 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(fmtSize, 16);
  h.writeUInt16LE(tag, 20);
  h.writeUInt16LE(1, 22); // mono
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * bps, 28);
  h.writeUInt16LE(bps, 32);
  h.writeUInt16LE(bps * 8, 34);
  let p = 36;
  if (!pcm) {
    h.writeUInt16LE(0, p); // cbSize
    p += 2;
    h.write('fact', p, 'latin1');
    h.writeUInt32LE(4, p + 4);
    h.writeUInt32LE(streaming ? STREAMING_SIZE : Math.floor(dataBytes / bps), p + 8);
    p += 12;
  }
  h.write('data', p, 'latin1');
  h.writeUInt32LE(streaming ? STREAMING_SIZE : dataBytes, p + 4);
  return h;
}

/** A complete mono WAV file (16-bit PCM by default) holding `pcm` (one or several chunks, same rate). */
export function encodeWav(pcm: Pcm | readonly Pcm[], encoding: Encoding = 'pcm_s16le'): Buffer {
  const parts: readonly Pcm[] = Array.isArray(pcm) ? pcm : [pcm as Pcm];
  if (parts.length === 0) throw new AudioFormatError('bad_header', 'encodeWav needs at least one Pcm chunk to know the sample rate');
  const sampleRate = parts[0].sampleRate;
  let total = 0;
  for (const p of parts) {
    if (p.sampleRate !== sampleRate) throw new AudioFormatError('unsupported_rate', `encodeWav: chunks at ${sampleRate} and ${p.sampleRate} Hz`);
    total += p.samples.length;
  }
  const bps = bytesPerSample(encoding);
  const dataBytes = total * bps;
  const header = wavHeader(sampleRate, encoding, dataBytes);
  const out = Buffer.alloc(header.length + dataBytes + (dataBytes & 1));
  header.copy(out, 0);
  let o = header.length;
  for (const p of parts) {
    encodeInto(encoding, p.samples, 0, p.samples.length, out, o);
    o += p.samples.length * bps;
  }
  return out;
}
