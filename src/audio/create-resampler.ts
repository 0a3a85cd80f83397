/**
 * createResampler: the one place that chooses a Resampler (resampler.ts). The WASM SIMD kernel
 * (wasm-resampler.ts) runs every rate pair: its scratch memory holds filters far longer than
 * the configurable range needs (120 dB, passband 0.99: 9,368 taps at 48 → 8 kHz). The
 * JavaScript FIR (polyphase.ts), same table in f64, runs only where the kernel cannot load (a
 * CPU without WebAssembly SIMD, which every Node ≥ 20.19 has on x86-64 with SSE4.1 and on
 * arm64) or a table would not fit; the tests run both implementations through the same suite.
 */
import { AudioFormatError } from './errors.ts';
import { PassThrough, PolyphaseResampler, polyphaseTable } from './polyphase.ts';
import type { Resampler, ResamplerQuality } from './resampler.ts';
import { WasmResampler } from './wasm-resampler.ts';

/**
 * A streaming resampler from `inputRate` to `outputRate` (Hz). Equal rates give a copying
 * pass-through. Tables are shared; the returned object holds only per-stream state.
 */
export function createResampler(inputRate: number, outputRate: number, quality?: ResamplerQuality): Resampler {
  if (inputRate === outputRate) {
    if (!Number.isInteger(inputRate) || inputRate <= 0) throw new AudioFormatError('unsupported_rate', `bad sample rate ${inputRate}`);
    return new PassThrough(inputRate, outputRate);
  }
  const table = polyphaseTable(inputRate, outputRate, quality);
  return WasmResampler.create(table) ?? new PolyphaseResampler(table);
}
