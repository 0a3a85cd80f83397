import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lcgNoise, measureResampler, processChunked, resampleOneShot, sine } from './analysis.ts';
import { createResampler } from './create-resampler.ts';
import { SAMPLE_RATES } from './format.ts';
import { PassThrough, PolyphaseResampler, polyphaseTable } from './polyphase.ts';
import type { Resampler } from './resampler.ts';
import { WasmResampler, wasmResamplerAvailable } from './wasm-resampler.ts';
import { concatSamples } from './samples.ts';

/** Both implementations of the Resampler interface, built directly (createResampler picks the first). */
const IMPLEMENTATIONS = {
  wasm: (from: number, to: number): Resampler => (from === to ? new PassThrough(from, to) : WasmResampler.create(polyphaseTable(from, to))!),
  fir: (from: number, to: number): Resampler => (from === to ? new PassThrough(from, to) : new PolyphaseResampler(polyphaseTable(from, to))),
} as const;
type Implementation = keyof typeof IMPLEMENTATIONS;

function oneShot(impl: Implementation, input: Int16Array, from: number, to: number): Int16Array {
  const r = IMPLEMENTATIONS[impl](from, to);
  return concatSamples([r.process(input), r.flush()]);
}

function chunked(impl: Implementation, input: Int16Array, from: number, to: number, sizes: number[]): Int16Array {
  return concatSamples(processChunked(IMPLEMENTATIONS[impl](from, to), input, sizes));
}

describe.each(Object.keys(IMPLEMENTATIONS) as Implementation[])('resampler quality, %s', (impl) => {
  const q = (from: number, to: number, step: number) => measureResampler((x) => oneShot(impl, x, from, to), from, to, 3400, step, 0.15);

  it('24 kHz → 8 kHz: in-band SNR ≥ 60 dB up to 3.4 kHz, content above 4 kHz down ≥ 50 dB', () => {
    const m = q(24000, 8000, 100);
    expect(m.inBandSnrDb).toBeGreaterThanOrEqual(60);
    expect(m.aliasRejectionDb).toBeLessThanOrEqual(-50);
    expect(m.passbandRippleDb).toBeLessThan(0.1);
  });

  it('48 kHz → 8 kHz and 16 kHz → 8 kHz meet the same figures', () => {
    for (const from of [48000, 16000]) {
      const m = q(from, 8000, 150);
      expect(m.inBandSnrDb).toBeGreaterThanOrEqual(60);
      expect(m.aliasRejectionDb).toBeLessThanOrEqual(-50);
      expect(m.passbandRippleDb).toBeLessThan(0.1);
    }
  });

  it('22.05 kHz → 8 kHz (a 160/441 ratio) meets the same figures', () => {
    const m = q(22050, 8000, 150);
    expect(m.inBandSnrDb).toBeGreaterThanOrEqual(60);
    expect(m.aliasRejectionDb).toBeLessThanOrEqual(-50);
  });

  it('upsampling 8 kHz → 24 kHz keeps images of the band ≥ 50 dB down', () => {
    // A 1 kHz tone at 8 kHz has images at 7 and 9 kHz; only the tone may remain at 24 kHz.
    const out = oneShot(impl, sine(1000, 8000, 2000), 8000, 24000);
    expect(q(8000, 24000, 200).inBandSnrDb).toBeGreaterThanOrEqual(55);
    expect(out.length).toBe(6000);
  });

  it('chunked equals one-shot within 1 LSB for random chunk sizes, every rate pair', () => {
    const input = lcgNoise(6000, 12345, 20000);
    for (const a of SAMPLE_RATES) {
      for (const b of SAMPLE_RATES) {
        const reference = oneShot(impl, input, a, b);
        const sizes = fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 20 });
        fc.assert(
          fc.property(sizes, (sizes) => {
            const got = chunked(impl, input, a, b, sizes);
            if (got.length !== reference.length) return false;
            for (let i = 0; i < got.length; i++) if (Math.abs(got[i] - reference[i]) > 1) return false;
            return true;
          }),
          { numRuns: 4, seed: a + b },
        );
      }
    }
  });

  it('reset starts a new stream (no history leaks into it)', () => {
    const r = IMPLEMENTATIONS[impl](24000, 8000);
    r.process(sine(1000, 24000, 1000));
    r.reset();
    const afterReset = r.process(new Int16Array(600));
    expect(afterReset.every((s) => s === 0)).toBe(true);
  });
});

describe('resampler selection', () => {
  it('createResampler picks the WASM SIMD kernel on this Node for every rate pair, at any configurable quality', () => {
    expect(wasmResamplerAvailable()).toBe(true);
    for (const quality of [undefined, { stopbandDb: 120, passband: 0.99 }]) {
      for (const [a, b] of [[24000, 8000], [22050, 8000], [48000, 8000], [8000, 48000], [44100, 8000]] as const) {
        expect(createResampler(a, b, quality)).toBeInstanceOf(WasmResampler);
      }
    }
    expect(createResampler(16000, 16000)).toBeInstanceOf(PassThrough);
  });

  it('the quality reaches the filter: a higher stopband means a longer table', () => {
    expect(polyphaseTable(24000, 8000, { stopbandDb: 90 }).taps).toBeGreaterThan(polyphaseTable(24000, 8000).taps);
    expect(polyphaseTable(24000, 8000, { stopbandDb: 60, passband: 0.85 })).toBe(polyphaseTable(24000, 8000));
  });

  it('the WASM and JS FIRs agree within 1 LSB (same table, f32 vs f64)', () => {
    const input = sine(1234, 24000, 9000, 32000);
    const w = oneShot('wasm', input, 24000, 8000);
    const f = oneShot('fir', input, 24000, 8000);
    expect(w.length).toBe(f.length);
    let maxDiff = 0;
    for (let i = 0; i < w.length; i++) maxDiff = Math.max(maxDiff, Math.abs(w[i] - f[i]));
    expect(maxDiff).toBeLessThanOrEqual(1);
  });
});

describe('resampler streaming', () => {
  it('gives round-up(n·out/in) samples, time-aligned with the input', () => {
    for (const [a, b] of [[24000, 8000], [22050, 8000], [8000, 48000], [44100, 48000]] as const) {
      for (const n of [1, 7, 480, 4410, 10001]) {
        const out = resampleOneShot(sine(300, a, n), a, b);
        expect(out.length, `${a}→${b} n=${n}`).toBe(Math.ceil((n * b) / a));
      }
    }
    // alignment: a 300 Hz tone keeps its phase (peak positions match within a sample)
    const input = sine(250, 24000, 24000);
    const out = resampleOneShot(input, 24000, 8000);
    const expected = sine(250, 8000, 8000);
    let maxErr = 0;
    for (let i = 100; i < 7900; i++) maxErr = Math.max(maxErr, Math.abs(out[i] - expected[i]));
    expect(maxErr).toBeLessThan(40); // passband gain error ≈ 0.1 % of 29491
  });

  it('shares coefficient tables between streams', () => {
    expect(polyphaseTable(24000, 8000)).toBe(polyphaseTable(24000, 8000));
    const t = polyphaseTable(22050, 8000);
    expect([t.up, t.down]).toEqual([160, 441]);
    expect(t.taps % 4).toBe(0);
  });

  it('equal rates pass through unchanged', () => {
    const input = sine(440, 16000, 321);
    expect(Array.from(resampleOneShot(input, 16000, 16000))).toEqual(Array.from(input));
  });

  it('rejects nonsense rates', () => {
    expect(() => createResampler(0, 8000)).toThrow(expect.objectContaining({ code: 'unsupported_rate' }));
    expect(() => createResampler(24000.5, 8000)).toThrow(expect.objectContaining({ code: 'unsupported_rate' }));
  });
});
