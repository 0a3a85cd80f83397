/**
 * The resampler contract: streaming sample-rate conversion between the gateway's rates (any
 * pair of 8000, 16000, 22050, 24000, 44100, 48000 Hz; any other positive integer pair works
 * too). One interface, implementations beside it:
 * - polyphase.ts: the filter design (a rational L/M polyphase FIR, Kaiser-windowed sinc) and
 *   its JavaScript run (f64), plus the copying pass-through for equal rates;
 * - wasm-resampler.ts: the same table on a WebAssembly SIMD kernel, which can also encode
 *   G.711 as it resamples (FusedG711Resampler).
 * create-resampler.ts chooses among them; docs/audio.md has the design and the figures.
 */
import type { Encoding } from './format.ts';

/**
 * Filter design knobs (config `audio.resampler_stopband_db` and `audio.resampler_passband`,
 * whose defaults meet the acceptance figures of docs/audio.md).
 */
export interface ResamplerQuality {
  /** Stopband attenuation in dB (Kaiser window parameter). Default audio.resampler_stopband_db (60). */
  readonly stopbandDb?: number;
  /**
   * Passband edge as a fraction of the lower rate's Nyquist frequency; the stopband starts
   * at 1.0. Default audio.resampler_passband (0.85: 3.4 kHz at 8 kHz). Wider = more taps.
   */
  readonly passband?: number;
}

export interface Resampler {
  readonly inputRate: number;
  readonly outputRate: number;
  /** Upper bound of the samples `processInto` writes for `inputLength` input samples. */
  maxOutput(inputLength: number): number;
  /** Resamples `input` into `out` (from index 0); returns the number of samples written. */
  processInto(input: Int16Array, out: Int16Array): number;
  /** Allocating convenience around processInto. */
  process(input: Int16Array): Int16Array;
  /** End of stream: the samples still inside the filter (its group delay), aligned to the input's length. */
  flush(): Int16Array;
  /** Forgets all history: the next sample starts a new stream. */
  reset(): void;
}

/** The G.711 encodings a fused resampler emits directly. */
export type G711Encoding = Extract<Encoding, 'pcm_mulaw' | 'pcm_alaw'>;

/** A resampler that also encodes to G.711 as it resamples, leaving the bytes in its own memory (zero copy). */
export interface FusedG711Resampler extends Resampler {
  /** Most input samples `processG711` takes per call. */
  readonly maxChunk: number;
  /** Resamples and encodes at most `maxChunk` samples; the bytes are at `outputBytes[outputOffset …]` until the next call. Returns their count. */
  processG711(input: Int16Array, encoding: G711Encoding): number;
  /** Where processG711 left its bytes (read after each call: the view may change). */
  readonly outputBytes: Uint8Array;
  readonly outputOffset: number;
  /** flush() as G.711 bytes. */
  flushG711(encoding: G711Encoding): Uint8Array;
}

/** Whether `resampler` can encode G.711 as it resamples. */
export function fusesG711(resampler: Resampler): resampler is FusedG711Resampler {
  return typeof (resampler as Partial<FusedG711Resampler>).processG711 === 'function';
}
