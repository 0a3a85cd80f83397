/**
 * Sample-level conversion from interleaved little-endian bytes to the gateway's mono Int16.
 * Shared by the raw PCM decoders and the WAV decoder; loops are per format so the inner
 * loop has no branches.
 */
import { ALAW_DECODE_TABLE, MULAW_DECODE_TABLE } from './g711.ts';

/** How one sample is stored. */
export type SampleKind = 'int' | 'float' | 'mulaw' | 'alaw';

/** Layout of interleaved frames: one frame = `channels` samples of `bytesPerSample` each. */
export interface SampleLayout {
  readonly kind: SampleKind;
  /** 1, 2, 3 or 4 for int (8-bit is unsigned, per WAV); 4 or 8 for float; 1 for G.711. */
  readonly bytesPerSample: number;
  readonly channels: number;
}

/** x86 and ARM as Node runs them: bytes of s16le are the Int16Array's own layout. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Float full scale ↔ Int16: ×32768 so that s16 → f32 → s16 round-trips exactly. */
export function floatToS16(value: number): number {
  const scaled = Math.round(value * 32768);
  return scaled > 32767 ? 32767 : scaled < -32768 ? -32768 : scaled | 0;
}

/** The parts one after another in one new array. */
export function concatSamples(parts: readonly Int16Array[]): Int16Array {
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Int16Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Reads the sample stored at byte `p` of `src`, as a signed 16-bit value. */
type SampleReader = (src: Uint8Array, view: DataView, p: number) => number;

function readerFor(layout: SampleLayout): SampleReader {
  const { kind, bytesPerSample } = layout;
  if (kind === 'mulaw') return (src, _v, p) => MULAW_DECODE_TABLE[src[p]];
  if (kind === 'alaw') return (src, _v, p) => ALAW_DECODE_TABLE[src[p]];
  if (kind === 'float') {
    return bytesPerSample === 8
      ? (_s, view, p) => floatToS16(view.getFloat64(p, true))
      : (_s, view, p) => floatToS16(view.getFloat32(p, true));
  }
  switch (bytesPerSample) {
    case 1:
      return (src, _v, p) => (src[p] - 128) << 8;
    case 2:
      return (src, _v, p) => ((src[p + 1] << 24) >> 16) | src[p];
    case 3:
      return (src, _v, p) => ((src[p + 2] << 24) >> 16) | src[p + 1];
    default:
      return (src, _v, p) => ((src[p + 3] << 24) >> 16) | src[p + 2];
  }
}

/** Decodes `frames` interleaved frames from `src[srcOffset…]` into mono `dst[dstOffset…]`. */
export type FrameDecoder = (src: Uint8Array, srcOffset: number, frames: number, dst: Int16Array, dstOffset: number) => void;

/** Mono s16le on a little-endian host: the bytes are already the Int16Array's layout. */
function isNativeS16(layout: SampleLayout): boolean {
  return layout.channels === 1 && layout.kind === 'int' && layout.bytesPerSample === 2 && LITTLE_ENDIAN;
}

/**
 * Builds the decoder for one layout. Mono 16-bit and mono G.711 (the common cases) get
 * straight loops; other layouts go through a per-sample reader and average the channels.
 */
export function createFrameDecoder(layout: SampleLayout): FrameDecoder {
  const { channels, bytesPerSample, kind } = layout;
  if (isNativeS16(layout)) {
    // The hot case (raw PCM from a GPU server): a native memcpy, not a loop per sample.
    return (src, srcOffset, frames, dst, dstOffset) => {
      new Uint8Array(dst.buffer, dst.byteOffset + dstOffset * 2, frames * 2).set(src.subarray(srcOffset, srcOffset + frames * 2));
    };
  }
  if (channels === 1 && kind === 'int' && bytesPerSample === 2) {
    return (src, srcOffset, frames, dst, dstOffset) => {
      for (let i = 0, p = srcOffset; i < frames; i++, p += 2) dst[dstOffset + i] = ((src[p + 1] << 24) >> 16) | src[p];
    };
  }
  if (channels === 1 && (kind === 'mulaw' || kind === 'alaw')) {
    const table = kind === 'mulaw' ? MULAW_DECODE_TABLE : ALAW_DECODE_TABLE;
    return (src, srcOffset, frames, dst, dstOffset) => {
      for (let i = 0; i < frames; i++) dst[dstOffset + i] = table[src[srcOffset + i]];
    };
  }
  const read = readerFor(layout);
  const frameBytes = channels * bytesPerSample;
  return (src, srcOffset, frames, dst, dstOffset) => {
    const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
    for (let i = 0, p = srcOffset; i < frames; i++, p += frameBytes) {
      let sum = 0;
      for (let c = 0, q = p; c < channels; c++, q += bytesPerSample) sum += read(src, view, q);
      dst[dstOffset + i] = channels === 1 ? sum : Math.round(sum / channels);
    }
  };
}

/**
 * Incremental frame assembler: turns arbitrary byte chunks into whole decoded frames,
 * carrying a partial frame (at most frameBytes − 1 bytes) to the next push.
 *
 * Mono s16le on a little-endian host is returned as a view of the pushed bytes, without a
 * copy, whenever they are whole samples on a 2-byte boundary (the common case for a GPU
 * server's raw PCM): at 1,000 calls (≈ 40 MB/s of audio, computed) dropping the copies cut the
 * gateway's GC from 20 % to 10 % of its main thread (two profiled runs, not one side-by-side run:
 * bench/RESULTS.md, Call load, "What changed" item 3). Callers therefore
 * hand over the bytes they push: they must not modify them afterwards (network reads never
 * are).
 */
export class FrameAssembler {
  private readonly decode: FrameDecoder;
  private readonly frameBytes: number;
  private readonly carry: Uint8Array;
  private carryLength = 0;
  private readonly viewable: boolean;

  constructor(layout: SampleLayout) {
    this.decode = createFrameDecoder(layout);
    this.frameBytes = layout.channels * layout.bytesPerSample;
    this.carry = new Uint8Array(this.frameBytes);
    this.viewable = isNativeS16(layout);
  }

  /** Bytes of an incomplete frame waiting for the next push. */
  get pendingBytes(): number {
    return this.carryLength;
  }

  /** Decodes the whole frames available in carry + `bytes[start, end)`; null when none. */
  push(bytes: Uint8Array, start = 0, end = bytes.length): Int16Array | null {
    const fb = this.frameBytes;
    const available = this.carryLength + (end - start);
    const frames = Math.floor(available / fb);
    if (frames === 0) {
      this.carry.set(bytes.subarray(start, end), this.carryLength);
      this.carryLength += end - start;
      return null;
    }
    if (this.viewable && this.carryLength === 0 && ((bytes.byteOffset + start) & 1) === 0) {
      const whole = frames * 2;
      if (start + whole < end) {
        this.carry[0] = bytes[start + whole];
        this.carryLength = 1;
      }
      return new Int16Array(bytes.buffer, bytes.byteOffset + start, frames);
    }
    const out = new Int16Array(frames);
    let o = 0;
    let pos = start;
    if (this.carryLength > 0) {
      const need = fb - this.carryLength;
      this.carry.set(bytes.subarray(pos, pos + need), this.carryLength);
      this.decode(this.carry, 0, 1, out, 0);
      o = 1;
      pos += need;
      this.carryLength = 0;
    }
    const whole = frames - o;
    this.decode(bytes, pos, whole, out, o);
    pos += whole * fb;
    if (pos < end) {
      this.carry.set(bytes.subarray(pos, end), 0);
      this.carryLength = end - pos;
    }
    return out;
  }

  /** Drops a trailing partial frame (a truncated stream); returns how many bytes were dropped. */
  discardPartial(): number {
    const dropped = this.carryLength;
    this.carryLength = 0;
    return dropped;
  }
}
