/**
 * Measurement helpers for resampler quality (used by the tests and bench/audio.ts so both
 * resamplers are judged by exactly the same ruler).
 */
import { createResampler } from './create-resampler.ts';
import type { Resampler, ResamplerQuality } from './resampler.ts';
import { concatSamples } from './samples.ts';

/** A sine of `freq` Hz at `rate` Hz, `amplitude` in 16-bit units, rounded to Int16. */
export function sine(freq: number, rate: number, length: number, amplitude = 29491): Int16Array {
  const out = new Int16Array(length);
  const w = (2 * Math.PI * freq) / rate;
  for (let i = 0; i < length; i++) out[i] = Math.round(amplitude * Math.sin(w * i));
  return out;
}

/**
 * Signal-to-noise-and-distortion of a tone of known frequency: a least-squares fit of
 * a·cos + b·sin + c (IEEE 1057 three-parameter sine fit); everything the fit does not
 * explain (noise, aliases, distortion, ripple between polyphase branches) counts as noise.
 * Immune to phase shifts and passband gain, so it measures damage, not filter shape.
 */
export function sineFitSnrDb(samples: ArrayLike<number>, rate: number, freq: number, from = 0, to = samples.length): number {
  const w = (2 * Math.PI * freq) / rate;
  let scc = 0, sss = 0, scs = 0, sc = 0, ss = 0, sy = 0, syc = 0, sys = 0;
  const n = to - from;
  for (let i = from; i < to; i++) {
    const c = Math.cos(w * i);
    const s = Math.sin(w * i);
    const y = samples[i];
    scc += c * c; sss += s * s; scs += c * s; sc += c; ss += s; sy += y; syc += y * c; sys += y * s;
  }
  // Solve the 3×3 normal equations [scc scs sc; scs sss ss; sc ss n] [a b d]ᵀ = [syc sys sy]ᵀ.
  const m = [
    [scc, scs, sc, syc],
    [scs, sss, ss, sys],
    [sc, ss, n, sy],
  ];
  for (let col = 0; col < 3; col++) {
    for (let row = col + 1; row < 3; row++) {
      const f = m[row][col] / m[col][col];
      for (let k = col; k < 4; k++) m[row][k] -= f * m[col][k];
    }
  }
  const d = m[2][3] / m[2][2];
  const b = (m[1][3] - m[1][2] * d) / m[1][1];
  const a = (m[0][3] - m[0][1] * b - m[0][2] * d) / m[0][0];
  let signal = 0;
  let noise = 0;
  for (let i = from; i < to; i++) {
    const fit = a * Math.cos(w * i) + b * Math.sin(w * i);
    const e = samples[i] - fit - d;
    signal += fit * fit;
    noise += e * e;
  }
  return 10 * Math.log10(signal / Math.max(noise, 1e-30));
}

/** RMS of samples[from, to). */
export function rms(samples: ArrayLike<number>, from = 0, to = samples.length): number {
  let sum = 0;
  for (let i = from; i < to; i++) sum += samples[i] * samples[i];
  return Math.sqrt(sum / Math.max(1, to - from));
}

/** Level of `output` relative to `input` in dB (negative = attenuated). */
export function levelDb(output: number, input: number): number {
  return 20 * Math.log10(Math.max(output, 1e-12) / input);
}

export interface ResampleQualityReport {
  /** Worst sine-fit SNR over the in-band tones. */
  readonly inBandSnrDb: number;
  readonly worstInBandHz: number;
  /** Passband gain spread (max − min level over in-band tones), dB. */
  readonly passbandRippleDb: number;
  /** Worst (least negative) output level for tones above the output Nyquist frequency, dB. */
  readonly aliasRejectionDb: number;
  readonly worstAliasHz: number;
}

/**
 * Stepped sine sweep through a resampling function: tones every `stepHz` from `stepHz` up
 * to `passbandHz` (in-band SNR and ripple) and from the output Nyquist up to the input
 * Nyquist (alias rejection). `resample` gets the whole tone and returns the output; the
 * first and last 20 ms are ignored (start-up transient).
 */
export function measureResampler(
  resample: (input: Int16Array) => ArrayLike<number>,
  inputRate: number,
  outputRate: number,
  passbandHz: number,
  stepHz = 100,
  seconds = 0.25,
): ResampleQualityReport {
  const length = Math.round(inputRate * seconds);
  const amplitude = 29491; // −0.9 dBFS
  const inputRms = amplitude / Math.SQRT2;
  let inBandSnrDb = Infinity;
  let worstInBandHz = 0;
  let minGain = Infinity;
  let maxGain = -Infinity;
  for (let f = stepHz; f <= passbandHz + 1e-9; f += stepHz) {
    const out = resample(sine(f, inputRate, length, amplitude));
    const skip = Math.round(outputRate * 0.02);
    const end = Math.min(out.length, Math.round(length * (outputRate / inputRate))) - skip;
    const snr = sineFitSnrDb(out, outputRate, f, skip, end);
    if (snr < inBandSnrDb) {
      inBandSnrDb = snr;
      worstInBandHz = f;
    }
    const gain = levelDb(rms(out, skip, end), inputRms);
    minGain = Math.min(minGain, gain);
    maxGain = Math.max(maxGain, gain);
  }
  let aliasRejectionDb = -Infinity;
  let worstAliasHz = 0;
  const nyquistOut = outputRate / 2;
  for (let f = nyquistOut; f < inputRate / 2; f += stepHz) {
    const out = resample(sine(f, inputRate, length, amplitude));
    const skip = Math.round(outputRate * 0.02);
    const end = Math.min(out.length, Math.round(length * (outputRate / inputRate))) - skip;
    const level = levelDb(rms(out, skip, end), inputRms);
    if (level > aliasRejectionDb) {
      aliasRejectionDb = level;
      worstAliasHz = f;
    }
  }
  return { inBandSnrDb, worstInBandHz, passbandRippleDb: maxGain - minGain, aliasRejectionDb, worstAliasHz };
}

/** Deterministic white noise (an LCG), uniform in [−amplitude, amplitude). */
export function lcgNoise(length: number, seed: number, amplitude = 32768): Int16Array {
  const out = new Int16Array(length);
  for (let i = 0; i < length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    out[i] = ((seed >>> 8) % (2 * amplitude)) - amplitude;
  }
  return out;
}

/** Feeds `input` to `r` in chunks of the sizes given (cycled), then flushes: one part per call. */
export function processChunked(r: Resampler, input: Int16Array, sizes: readonly number[]): Int16Array[] {
  const parts: Int16Array[] = [];
  for (let pos = 0, i = 0; pos < input.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, input.length - pos);
    parts.push(r.process(input.subarray(pos, pos + n)));
    pos += n;
  }
  parts.push(r.flush());
  return parts;
}

/** Resamples a whole signal at once: process, then flush the filter's tail. */
export function resampleOneShot(input: Int16Array, from: number, to: number, quality?: ResamplerQuality): Int16Array {
  const r = createResampler(from, to, quality);
  return concatSamples([r.process(input), r.flush()]);
}

