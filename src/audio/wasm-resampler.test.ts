import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lcgNoise, processChunked, sine } from './analysis.ts';
import { alawEncode, mulawEncode } from './g711.ts';
import { createAudioOutput } from './output.ts';
import { createResampler } from './create-resampler.ts';
import { polyphaseTable } from './polyphase.ts';
import type { G711Encoding } from './resampler.ts';
import { WasmResampler } from './wasm-resampler.ts';
import { assembleResampleWat } from './wasm/assemble.ts';
import { RESAMPLE_WASM_BASE64 } from './wasm/resample-wasm.ts';

const noise = (length: number, seed: number): Int16Array => lcgNoise(length, seed);

function wasm(from: number, to: number): WasmResampler {
  const r = WasmResampler.create(polyphaseTable(from, to));
  if (r === null) throw new Error('WASM kernel unavailable');
  return r;
}

function concat(parts: Int16Array[] | Uint8Array[]): number[] {
  return parts.flatMap((p: Int16Array | Uint8Array) => Array.from(p));
}

describe('WASM kernel bytes', () => {
  it('the committed module is exactly what resample.wat assembles to (run `npm run build:wasm` after editing the WAT)', async () => {
    const assembled = await assembleResampleWat();
    expect(Buffer.from(assembled).toString('base64')).toBe(RESAMPLE_WASM_BASE64);
  });
});

describe('WASM resampler streaming', () => {
  it('chunked equals one-shot exactly for random chunk sizes (decimation and general L/M paths)', () => {
    const input = noise(9000, 7);
    for (const [a, b] of [[24000, 8000], [48000, 8000], [16000, 8000], [22050, 8000], [8000, 24000], [44100, 48000]] as const) {
      const whole = wasm(a, b);
      const reference = concat([whole.process(input), whole.flush()]);
      expect(reference.length).toBe(Math.ceil((input.length * b) / a));
      fc.assert(
        fc.property(fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 30 }), (sizes) => {
          const got = concat(processChunked(wasm(a, b), input, sizes));
          return got.length === reference.length && got.every((v, i) => v === reference[i]);
        }),
        { numRuns: 15, seed: a ^ b },
      );
    }
  });

  it('saturates full-scale square waves to the 16-bit range instead of wrapping', () => {
    const square = Int16Array.from({ length: 4800 }, (_, i) => ((i / 60) & 1 ? 32767 : -32768));
    const out = wasm(24000, 8000).process(square);
    expect(Math.max(...out)).toBe(32767); // Gibbs overshoot clipped, not wrapped to negative
    expect(Math.min(...out)).toBe(-32768);
  });

  it('streams are independent: interleaved streams equal streams run alone', () => {
    const a = noise(4800, 1);
    const b = sine(700, 24000, 4800);
    const alone = [wasm(24000, 8000).process(a), wasm(24000, 8000).process(b)];
    const ra = wasm(24000, 8000);
    const rb = wasm(24000, 8000);
    const parts: Int16Array[][] = [[], []];
    for (let pos = 0; pos < 4800; pos += 240) {
      parts[0].push(ra.process(a.subarray(pos, pos + 240)));
      parts[1].push(rb.process(b.subarray(pos, pos + 240)));
    }
    expect(concat(parts[0])).toEqual(Array.from(alone[0]));
    expect(concat(parts[1])).toEqual(Array.from(alone[1]));
  });

  it('many streams stay cheap: 2,000 streams at 24→8 kHz allocate well under 2 MB of kernel memory', () => {
    const before = wasm(24000, 8000).outputBytes.length;
    const streams = Array.from({ length: 2000 }, () => wasm(24000, 8000));
    const after = streams[0].outputBytes.length;
    expect(after - before).toBeLessThan(2 * 1024 * 1024);
  });
});

describe.each(['pcm_mulaw', 'pcm_alaw'] as const)('fused G.711 (%s)', (encoding: G711Encoding) => {
  const encode = encoding === 'pcm_mulaw' ? mulawEncode : alawEncode;

  it('equals the JS table encoder applied to the same resampled samples, chunked and flushed', () => {
    const input = noise(7001, 3);
    const samples = wasm(24000, 8000);
    const bytes = wasm(24000, 8000);
    const expected: Uint8Array[] = [];
    const got: Uint8Array[] = [];
    for (let pos = 0; pos < input.length; pos += 333) {
      const chunk = input.subarray(pos, pos + 333);
      expected.push(encode(samples.process(chunk)));
      const out = new Uint8Array(bytes.maxOutput(chunk.length));
      got.push(out.subarray(0, bytes.processG711Into(chunk, encoding, out)));
    }
    expected.push(encode(samples.flush()));
    got.push(bytes.flushG711(encoding));
    expect(concat(got)).toEqual(concat(expected));
  });

  it('createAudioOutput frames the fused path exactly like the JS path (Int16 → table encoder)', () => {
    const input = noise(24000 + 77, 11);
    const run = (chunk: number): number[] => {
      const frames: Uint8Array[] = [];
      const out = createAudioOutput({ encoding, sampleRate: 8000, frameMs: 20 }, (f) => frames.push(f));
      for (let pos = 0; pos < input.length; pos += chunk) out.write({ samples: input.subarray(pos, pos + chunk), sampleRate: 24000 });
      out.end();
      expect(frames.every((f) => f.length === 160)).toBe(true);
      return concat(frames);
    };
    // Reference: the WASM Int16 output encoded by the JS table codec, framed and padded.
    const r = createResampler(24000, 8000);
    expect(r).toBeInstanceOf(WasmResampler);
    const pcm = [...r.process(input), ...r.flush()];
    const reference = Array.from(encode(Int16Array.from(pcm)));
    const silence = encoding === 'pcm_mulaw' ? 0xff : 0xd5;
    while (reference.length % 160 !== 0) reference.push(silence);
    expect(run(240)).toEqual(reference);
    expect(run(5000)).toEqual(reference); // chunks above the kernel's per-call limit
  });
});
