/**
 * The polyphase FIR behind every Resampler (resampler.ts): the filter design shared by both
 * implementations (the table), and the FIR run in JavaScript (f64), which serves where the
 * WASM kernel (wasm-resampler.ts) cannot load or a table does not fit it, and is the tests'
 * reference.
 *
 * Streaming sample-rate conversion between the gateway's rates (any pair of 8000, 16000,
 * 22050, 24000, 44100, 48000 Hz; any other positive integer pair works too).
 *
 * Design: a rational L/M polyphase FIR. The prototype low-pass is a Kaiser-windowed sinc
 * designed at in·L Hz with its stopband starting exactly at the lower rate's Nyquist
 * frequency, so nothing above 4 kHz folds into telephony audio made from 24 kHz. Each output
 * sample is one dot product of K taps (one polyphase branch) with the last K input samples.
 *
 * - Coefficient tables depend only on (in, out, quality): built once, cached, shared by every
 *   stream. Per-stream state is the input history (K−1 samples) and the phase.
 * - The hot loop allocates nothing: callers pass the output buffer (`processInto`).
 * - Arithmetic does not depend on how input is chunked: chunked output equals one-shot
 *   output exactly.
 * - Output is time-aligned with the input: the filter's group delay is skipped at the start
 *   and `flush` drains it at the end, so n input samples give round-up(n·out/in) outputs.
 */
import { AUDIO_DEFAULTS } from '../config.ts';
import { AudioFormatError } from './errors.ts';
import type { Resampler, ResamplerQuality } from './resampler.ts';

/** One rate pair's polyphase filter bank (immutable, shared). */
export interface PolyphaseTable {
  readonly inputRate: number;
  readonly outputRate: number;
  /** Up factor L (number of phases). */
  readonly up: number;
  /** Down factor M. */
  readonly down: number;
  /** Taps per phase (K), a multiple of 4 for the unrolled loop. */
  readonly taps: number;
  /** Phase p's taps at [p·K, (p+1)·K), time-reversed so the dot product runs forward over the history. */
  readonly coefficients: Float64Array;
  /** Phase of the next output after an output at phase p. */
  readonly nextPhase: Int32Array;
  /** Input samples to advance after an output at phase p. */
  readonly advance: Int32Array;
  /** Phase and input index of the first output (the skipped group delay). */
  readonly startPhase: number;
  readonly startIndex: number;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Zeroth-order modified Bessel function of the first kind (series; converges fast for β < 20). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

function kaiserBeta(attenuationDb: number): number {
  if (attenuationDb > 50) return 0.1102 * (attenuationDb - 8.7);
  if (attenuationDb >= 21) return 0.5842 * (attenuationDb - 21) ** 0.4 + 0.07886 * (attenuationDb - 21);
  return 0;
}

const tableCache = new Map<string, PolyphaseTable>();

/** The cached polyphase table for a rate pair (built on first use, then shared). */
export function polyphaseTable(inputRate: number, outputRate: number, quality: ResamplerQuality = {}): PolyphaseTable {
  const stopbandDb = quality.stopbandDb ?? AUDIO_DEFAULTS.resampler_stopband_db;
  const passband = quality.passband ?? AUDIO_DEFAULTS.resampler_passband;
  const key = `${inputRate}:${outputRate}:${stopbandDb}:${passband}`;
  const cached = tableCache.get(key);
  if (cached) return cached;

  if (!Number.isInteger(inputRate) || !Number.isInteger(outputRate) || inputRate <= 0 || outputRate <= 0) {
    throw new AudioFormatError('unsupported_rate', `cannot resample ${inputRate} Hz → ${outputRate} Hz`);
  }
  if (!(passband > 0 && passband < 1)) throw new RangeError('passband must be in (0, 1)');
  const g = gcd(inputRate, outputRate);
  const up = outputRate / g;
  const down = inputRate / g;
  const protoRate = inputRate * up;
  const nyquistLow = Math.min(inputRate, outputRate) / 2;
  const passHz = passband * nyquistLow;
  const stopHz = nyquistLow;
  const cutoff = (passHz + stopHz) / 2 / protoRate; // cycles per prototype sample
  const transition = (stopHz - passHz) / protoRate;
  const minLength = Math.ceil((stopbandDb - 7.95) / (2.285 * 2 * Math.PI * transition)) + 1;
  const taps = Math.ceil(Math.ceil(minLength / up) / 4) * 4;
  const length = taps * up;

  // The filter is symmetric over an odd length (the last slot stays 0) so its group delay is a
  // whole number of prototype samples: output sample j then sits exactly at input time j·in/out.
  const beta = kaiserBeta(stopbandDb);
  const i0Beta = besselI0(beta);
  const designLength = length - 1;
  const center = (designLength - 1) / 2;
  const proto = new Float64Array(length);
  for (let n = 0; n < designLength; n++) {
    const x = n - center;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const r = (2 * n) / (designLength - 1) - 1;
    proto[n] = sinc * (besselI0(beta * Math.sqrt(Math.max(0, 1 - r * r))) / i0Beta);
  }

  // Polyphase split, each phase normalised to unity DC gain (no phase-dependent DC ripple,
  // which would otherwise modulate into a tone at the output rate).
  const coefficients = new Float64Array(length);
  for (let p = 0; p < up; p++) {
    let sum = 0;
    for (let k = 0; k < taps; k++) sum += proto[p + k * up];
    const norm = sum === 0 ? 0 : 1 / sum;
    for (let k = 0; k < taps; k++) coefficients[p * taps + (taps - 1 - k)] = proto[p + k * up] * norm;
  }

  const nextPhase = new Int32Array(up);
  const advance = new Int32Array(up);
  for (let p = 0; p < up; p++) {
    nextPhase[p] = (p + down) % up;
    advance[p] = Math.floor((p + down) / up);
  }
  const start = center;
  const table: PolyphaseTable = {
    inputRate,
    outputRate,
    up,
    down,
    taps,
    coefficients,
    nextPhase,
    advance,
    startPhase: start % up,
    startIndex: Math.floor(start / up),
  };
  tableCache.set(key, table);
  return table;
}

/** Identity "resampler" for equal rates (copies, so callers may reuse their input buffer). */
export class PassThrough implements Resampler {
  constructor(
    readonly inputRate: number,
    readonly outputRate: number,
  ) {}
  maxOutput(n: number): number {
    return n;
  }
  processInto(input: Int16Array, out: Int16Array): number {
    out.set(input);
    return input.length;
  }
  process(input: Int16Array): Int16Array {
    return input.slice();
  }
  flush(): Int16Array {
    return new Int16Array(0);
  }
  reset(): void {}
}

export class PolyphaseResampler implements Resampler {
  readonly inputRate: number;
  readonly outputRate: number;
  private readonly table: PolyphaseTable;
  /** history[0, length): the last K−1 inputs of earlier calls, then this call's input. */
  private history: Float64Array;
  private historyLength = 0;
  private phase = 0;
  /** Index in `history` of the newest input sample the next output needs. */
  private inputIndex = 0;
  /** Inputs and outputs seen since the last reset, to size the flush exactly. */
  private inputsSeen = 0;
  private outputsMade = 0;

  constructor(table: PolyphaseTable) {
    this.table = table;
    this.inputRate = table.inputRate;
    this.outputRate = table.outputRate;
    this.history = new Float64Array(table.taps - 1 + 4096);
    this.reset();
  }

  reset(): void {
    const t = this.table;
    // K−1 zeros stand for the silence before the stream; the first output waits for
    // input sample startIndex (the group delay), so output time 0 lines up with input time 0.
    this.history.fill(0, 0, t.taps - 1);
    this.historyLength = t.taps - 1;
    this.phase = t.startPhase;
    this.inputIndex = t.taps - 1 + t.startIndex;
    this.inputsSeen = 0;
    this.outputsMade = 0;
  }

  maxOutput(n: number): number {
    return Math.ceil(((this.historyLength + n) * this.table.up) / this.table.down) + 2;
  }

  processInto(input: Int16Array, out: Int16Array): number {
    const n = input.length;
    if (this.historyLength + n > this.history.length) this.grow(this.historyLength + n + 4096);
    const h = this.history;
    let len = this.historyLength;
    for (let i = 0; i < n; i++) h[len++] = input[i];
    this.inputsSeen += n;
    const written = this.run(len, out, 0, Infinity);
    this.keepTail(len);
    return written;
  }

  private run(len: number, out: Int16Array, outOffset: number, limit: number): number {
    const { coefficients: c, taps, nextPhase, advance } = this.table;
    const h = this.history;
    let phase = this.phase;
    let index = this.inputIndex;
    let o = outOffset;
    const end = limit === Infinity ? Infinity : outOffset + limit;
    while (index < len && o < end) {
      const base = phase * taps;
      let s = index - taps + 1;
      let a0 = 0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      for (let k = 0; k < taps; k += 4, s += 4) {
        a0 += c[base + k] * h[s];
        a1 += c[base + k + 1] * h[s + 1];
        a2 += c[base + k + 2] * h[s + 2];
        a3 += c[base + k + 3] * h[s + 3];
      }
      const y = Math.round(a0 + a1 + (a2 + a3));
      out[o++] = y > 32767 ? 32767 : y < -32768 ? -32768 : y;
      index += advance[phase];
      phase = nextPhase[phase];
    }
    this.phase = phase;
    this.inputIndex = index;
    this.outputsMade += o - outOffset;
    return o - outOffset;
  }

  /** Moves the last K−1 samples to the front (the only state a stream keeps). */
  private keepTail(len: number): void {
    const keep = this.table.taps - 1;
    const drop = len - keep;
    if (drop > 0) {
      this.history.copyWithin(0, drop, len);
      this.inputIndex -= drop;
    }
    this.historyLength = keep;
  }

  process(input: Int16Array): Int16Array {
    const out = new Int16Array(this.maxOutput(input.length));
    return out.subarray(0, this.processInto(input, out));
  }

  flush(): Int16Array {
    const t = this.table;
    const expected = Math.ceil((this.inputsSeen * t.up) / t.down);
    const missing = expected - this.outputsMade;
    if (missing <= 0) return new Int16Array(0);
    // Feed silence until the outputs that cover the real input are out.
    const zeros = Math.ceil((missing * t.down) / t.up) + t.taps;
    const h = this.history.length < this.historyLength + zeros ? this.grow(this.historyLength + zeros) : this.history;
    h.fill(0, this.historyLength, this.historyLength + zeros);
    const out = new Int16Array(missing);
    const written = this.run(this.historyLength + zeros, out, 0, missing);
    this.reset();
    return written === missing ? out : out.subarray(0, written);
  }

  private grow(size: number): Float64Array {
    const grown = new Float64Array(size);
    grown.set(this.history.subarray(0, this.historyLength));
    this.history = grown;
    return grown;
  }
}

