/**
 * The fake Cartesia's voice: a deterministic voiced signal (harmonics of a ~120–200 Hz
 * fundamental, or a cloned voice's pitch, with a syllable envelope per character), rendered a
 * chunk at a time, and its raw encodings. What the fake says; sim/cartesia.ts decides when.
 */
import alawmulaw from 'alawmulaw';
import type { Encoding } from '../audio/format.ts';

/** One context's voice: the oscillator carries on from chunk to chunk (no clicks at chunk joins). */
export class SyntheticVoice {
  /** Fundamental in Hz: a clone's pitch, else 120–199 Hz picked by the voice id. */
  readonly f0: number;
  readonly #sampleRate: number;
  /** Oscillator phase (radians) and absolute sample index (for the pitch contour). */
  #phase = 0;
  #t = 0;

  constructor(voiceId: string, sampleRate: number, pitchHz?: number) {
    this.f0 = pitchHz ?? 120 + (hash(voiceId) % 80);
    this.#sampleRate = sampleRate;
  }

  /** Samples `from` … `from + count` (floats in −1…1) of `text` spoken over `total` samples. */
  render(text: string, from: number, count: number, total: number): Float32Array {
    const out = new Float32Array(count);
    const rate = this.#sampleRate;
    const perChar = total / text.length;
    const nyquist = rate / 2;
    for (let i = 0; i < count; i++) {
      const n = from + i;
      const charIndex = Math.min(text.length - 1, Math.floor(n / perChar));
      const code = text.charCodeAt(charIndex);
      const voiced = code > 32 && !(code >= 33 && code <= 47);
      // Pitch contour: a slow drift around the voice's fundamental, nudged per character.
      const f0 = this.f0 * (1 + 0.08 * Math.sin((2 * Math.PI * 0.7 * this.#t) / rate)) + (code % 7) * 2;
      this.#phase += (2 * Math.PI * f0) / rate;
      if (this.#phase > 2 * Math.PI) this.#phase -= 2 * Math.PI;
      this.#t++;
      if (!voiced) continue;
      const within = (n - charIndex * perChar) / perChar;
      const envelope = Math.sin(Math.PI * within);
      let value = 0;
      for (let h = 1; h <= 5 && h * f0 < nyquist; h++) value += Math.sin(h * this.#phase) / h;
      out[i] = 0.25 * envelope * value;
    }
    return out;
  }
}

function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** Floats in −1…1 → the requested raw encoding, little-endian. */
export function encode(samples: Float32Array, encoding: Encoding): Buffer {
  switch (encoding) {
    case 'pcm_f32le': {
      const out = Buffer.allocUnsafe(samples.length * 4);
      for (let i = 0; i < samples.length; i++) out.writeFloatLE(samples[i], i * 4);
      return out;
    }
    case 'pcm_s16le': {
      const out = Buffer.allocUnsafe(samples.length * 2);
      for (let i = 0; i < samples.length; i++) out.writeInt16LE(toInt16(samples[i]), i * 2);
      return out;
    }
    case 'pcm_mulaw':
    case 'pcm_alaw': {
      const pcm = new Int16Array(samples.length);
      for (let i = 0; i < samples.length; i++) pcm[i] = toInt16(samples[i]);
      const codes = encoding === 'pcm_mulaw' ? alawmulaw.mulaw.encode(pcm) : alawmulaw.alaw.encode(pcm);
      return Buffer.from(codes.buffer, codes.byteOffset, codes.byteLength);
    }
  }
}

function toInt16(x: number): number {
  const v = Math.round(x * 32767);
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}
