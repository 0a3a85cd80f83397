/** Int16 mono samples → bytes of a client encoding (little-endian, no header). */
import type { Encoding } from './format.ts';
import { bytesPerSample } from './format.ts';
import { ALAW_SILENCE, MULAW_SILENCE, alawEncodeInto, mulawEncodeInto } from './g711.ts';
import { LITTLE_ENDIAN } from './samples.ts';

/**
 * Encodes `count` samples of `src` starting at `srcOffset` into `dst` at byte `dstOffset`.
 * No copy buffers: pcm_s16le (little-endian) takes one Uint8Array view of `src` per call,
 * pcm_f32le one DataView per call, G.711 nothing.
 */
export function encodeInto(encoding: Encoding, src: Int16Array, srcOffset: number, count: number, dst: Uint8Array, dstOffset: number): void {
  switch (encoding) {
    case 'pcm_mulaw':
      mulawEncodeInto(src, srcOffset, count, dst, dstOffset);
      return;
    case 'pcm_alaw':
      alawEncodeInto(src, srcOffset, count, dst, dstOffset);
      return;
    case 'pcm_s16le':
      if (LITTLE_ENDIAN) {
        dst.set(new Uint8Array(src.buffer, src.byteOffset + srcOffset * 2, count * 2), dstOffset);
        return;
      }
      for (let i = 0, o = dstOffset; i < count; i++, o += 2) {
        const s = src[srcOffset + i];
        dst[o] = s;
        dst[o + 1] = s >> 8;
      }
      return;
    case 'pcm_f32le': {
      const view = new DataView(dst.buffer, dst.byteOffset, dst.byteLength);
      for (let i = 0, o = dstOffset; i < count; i++, o += 4) view.setFloat32(o, src[srcOffset + i] / 32768, true);
      return;
    }
  }
}

/** Encodes all of `samples` into a new Buffer. */
export function encodeSamples(encoding: Encoding, samples: Int16Array): Buffer {
  const out = Buffer.allocUnsafe(samples.length * bytesPerSample(encoding));
  encodeInto(encoding, samples, 0, samples.length, out, 0);
  return out;
}

/** The byte value of digital silence in an encoding (0xFF μ-law, 0xD5 A-law, 0 linear). */
export function silenceByte(encoding: Encoding): number {
  return encoding === 'pcm_mulaw' ? MULAW_SILENCE : encoding === 'pcm_alaw' ? ALAW_SILENCE : 0;
}
