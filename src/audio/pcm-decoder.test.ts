import { describe, expect, it } from 'vitest';
import { createPcmDecoder, createPcmS16Decoder, decodeToPcm } from './pcm-decoder.ts';
import { encodeSamples } from './encode.ts';

describe('raw PCM decoders', () => {
  it('carries odd byte counts across pushes (s16le)', () => {
    const samples = Int16Array.from([1, -1, 256, -256, 32767, -32768, 12345]);
    const bytes = encodeSamples('pcm_s16le', samples);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = createPcmS16Decoder(24000);
      const out: number[] = [];
      const a = d.push(bytes.subarray(0, cut));
      const b = d.push(bytes.subarray(cut));
      for (const p of [a, b]) if (p) out.push(...p.samples);
      expect(d.end()).toBeNull();
      expect(out).toEqual(Array.from(samples));
      if (a) expect(a.sampleRate).toBe(24000);
    }
  });

  it('returns null until a whole sample has arrived, and drops a partial sample on end/reset', () => {
    const d = createPcmS16Decoder(8000);
    expect(d.push(Uint8Array.of(0x34))).toBeNull();
    expect(Array.from(d.push(Uint8Array.of(0x12, 0xff))!.samples)).toEqual([0x1234]);
    d.reset();
    expect(Array.from(d.push(Uint8Array.of(0x01, 0x00))!.samples)).toEqual([1]);
  });

  it('s16le whole samples on a 2-byte boundary are a view of the pushed bytes; misaligned ones a copy', () => {
    const bytes = encodeSamples('pcm_s16le', Int16Array.from([1, 2, 3, 4, 5]));
    const d = createPcmS16Decoder(24000);
    const aligned = d.push(bytes.subarray(0, 5))!; // 2 samples + 1 byte carried
    expect(aligned.samples.buffer).toBe(bytes.buffer);
    expect(Array.from(aligned.samples)).toEqual([1, 2]);
    const afterCarry = d.push(bytes.subarray(5))!; // carry completes sample 3: copied
    expect(afterCarry.samples.buffer).not.toBe(bytes.buffer);
    expect(Array.from(afterCarry.samples)).toEqual([3, 4, 5]);
    const odd = new Uint8Array(11);
    odd.set(bytes.subarray(0, 10), 1);
    const copied = createPcmS16Decoder(24000).push(odd.subarray(1))!;
    expect(copied.samples.buffer).not.toBe(odd.buffer);
    expect(Array.from(copied.samples)).toEqual([1, 2, 3, 4, 5]);
  });

  it('decodes f32le split inside a sample', () => {
    const bytes = encodeSamples('pcm_f32le', Int16Array.from([100, -200, 30000]));
    const d = createPcmDecoder('pcm_f32le', 16000);
    const parts = [d.push(bytes.subarray(0, 3)), d.push(bytes.subarray(3, 9)), d.push(bytes.subarray(9))];
    expect(parts.flatMap((p) => (p ? Array.from(p.samples) : []))).toEqual([100, -200, 30000]);
  });

  it('decodes whole G.711 chunks', () => {
    expect(Array.from(decodeToPcm('pcm_mulaw', 8000, Uint8Array.of(0xff, 0x7f, 0x80, 0x00)).samples)).toEqual([0, 0, 32124, -32124]);
    expect(Array.from(decodeToPcm('pcm_alaw', 8000, Uint8Array.of(0xd5, 0x55, 0xaa, 0x2a)).samples)).toEqual([8, -8, 32256, -32256]);
  });
});
