import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { measureResampler, sine } from './analysis.ts';
import { SAMPLE_RATES } from './format.ts';
import { createResampler, polyphaseTable, type ResamplerQuality } from './resampler.ts';
import { IirDecimator } from './iir-decimator.ts';

function oneShot(input: Int16Array, from: number, to: number, quality?: ResamplerQuality): Int16Array {
  const r = createResampler(from, to, quality);
  const body = r.process(input);
  const tail = r.flush();
  const out = new Int16Array(body.length + tail.length);
  out.set(body);
  out.set(tail, body.length);
  return out;
}

function chunked(input: Int16Array, from: number, to: number, sizes: number[]): Int16Array {
  const r = createResampler(from, to);
  const parts: Int16Array[] = [];
  let pos = 0;
  for (let i = 0; pos < input.length; i++) {
    const n = Math.min(sizes[i % sizes.length], input.length - pos);
    parts.push(r.process(input.subarray(pos, pos + n)));
    pos += n;
  }
  parts.push(r.flush());
  const out = new Int16Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('resampler quality', () => {
  it('24 kHz → 8 kHz: in-band SNR ≥ 60 dB up to 3.4 kHz, content above 4 kHz down ≥ 50 dB', () => {
    const q = measureResampler((x) => oneShot(x, 24000, 8000), 24000, 8000, 3400, 100, 0.15);
    expect(q.inBandSnrDb).toBeGreaterThanOrEqual(60);
    expect(q.aliasRejectionDb).toBeLessThanOrEqual(-50);
    expect(q.passbandRippleDb).toBeLessThan(0.1);
  });

  it('24 kHz → 8 kHz through the linear-phase FIR meets the same figures', () => {
    const q = measureResampler((x) => oneShot(x, 24000, 8000, { filter: 'fir' }), 24000, 8000, 3400, 100, 0.15);
    expect(q.inBandSnrDb).toBeGreaterThanOrEqual(60);
    expect(q.aliasRejectionDb).toBeLessThanOrEqual(-50);
    expect(q.passbandRippleDb).toBeLessThan(0.1);
  });

  it('48 kHz → 8 kHz and 16 kHz → 8 kHz (IIR ÷6, ÷2) meet the same figures', () => {
    expect(createResampler(48000, 8000)).toBeInstanceOf(IirDecimator);
    for (const from of [48000, 16000]) {
      const q = measureResampler((x) => oneShot(x, from, 8000), from, 8000, 3400, 150, 0.15);
      expect(q.inBandSnrDb).toBeGreaterThanOrEqual(60);
      expect(q.aliasRejectionDb).toBeLessThanOrEqual(-50);
      expect(q.passbandRippleDb).toBeLessThan(0.1);
    }
  });

  it('22.05 kHz → 8 kHz (a 160/441 ratio) meets the same figures', () => {
    const q = measureResampler((x) => oneShot(x, 22050, 8000), 22050, 8000, 3400, 150, 0.15);
    expect(q.inBandSnrDb).toBeGreaterThanOrEqual(60);
    expect(q.aliasRejectionDb).toBeLessThanOrEqual(-50);
  });

  it('upsampling 8 kHz → 24 kHz keeps images of the band ≥ 50 dB down', () => {
    // A 1 kHz tone at 8 kHz has images at 7 and 9 kHz; only the tone may remain at 24 kHz.
    const out = oneShot(sine(1000, 8000, 2000), 8000, 24000);
    const q = measureResampler((x) => oneShot(x, 8000, 24000), 8000, 24000, 3400, 200, 0.15);
    expect(q.inBandSnrDb).toBeGreaterThanOrEqual(55);
    expect(out.length).toBe(6000);
  });
});

describe('resampler streaming', () => {
  it('gives round-up(n·out/in) samples, time-aligned with the input', () => {
    for (const [a, b] of [[24000, 8000], [22050, 8000], [8000, 48000], [44100, 48000]] as const) {
      for (const n of [1, 7, 480, 4410, 10001]) {
        const out = oneShot(sine(300, a, n), a, b);
        expect(out.length, `${a}→${b} n=${n}`).toBe(Math.ceil((n * b) / a));
      }
    }
    // alignment: a 300 Hz tone keeps its phase (peak positions match within a sample)
    const input = sine(250, 24000, 24000);
    const out = oneShot(input, 24000, 8000, { filter: 'fir' });
    const expected = sine(250, 8000, 8000);
    let maxErr = 0;
    for (let i = 100; i < 7900; i++) maxErr = Math.max(maxErr, Math.abs(out[i] - expected[i]));
    expect(maxErr).toBeLessThan(40); // passband gain error ≈ 0.1 % of 29491
  });

  it('chunked equals one-shot within 1 LSB for random chunk sizes, every rate pair', () => {
    const input = new Int16Array(6000);
    let seed = 12345;
    for (let i = 0; i < input.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      input[i] = ((seed >>> 8) % 40000) - 20000;
    }
    for (const a of SAMPLE_RATES) {
      for (const b of SAMPLE_RATES) {
        const reference = oneShot(input, a, b);
        const sizes = fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 20 });
        fc.assert(
          fc.property(sizes, (sizes) => {
            const got = chunked(input, a, b, sizes);
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
    for (const filter of ['auto', 'fir'] as const) {
      const r = createResampler(24000, 8000, { filter });
      r.process(sine(1000, 24000, 1000));
      r.reset();
      const afterReset = r.process(new Int16Array(600));
      expect(afterReset.every((s) => s === 0)).toBe(true);
    }
  });

  it('shares coefficient tables between streams', () => {
    expect(polyphaseTable(24000, 8000)).toBe(polyphaseTable(24000, 8000));
    const t = polyphaseTable(22050, 8000);
    expect([t.up, t.down]).toEqual([160, 441]);
    expect(t.taps % 4).toBe(0);
  });

  it('equal rates pass through unchanged', () => {
    const input = sine(440, 16000, 321);
    expect(Array.from(oneShot(input, 16000, 16000))).toEqual(Array.from(input));
  });

  it('rejects nonsense rates', () => {
    expect(() => createResampler(0, 8000)).toThrow(expect.objectContaining({ code: 'unsupported_rate' }));
    expect(() => createResampler(24000.5, 8000)).toThrow(expect.objectContaining({ code: 'unsupported_rate' }));
  });
});
