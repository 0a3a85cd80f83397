import { describe, expect, it } from 'vitest';
import * as alawmulaw from 'alawmulaw';
import { alawDecode, alawEncode, mulawDecode, mulawEncode } from './g711.ts';

/**
 * G.711 reference values written from the standard's tables (Table 1: A-law, Table 2: μ-law),
 * independent of the implementation: per segment, the first decoder output value and the step,
 * on the standard's own scale (A-law ±4096, μ-law ±8159), plus how a character is formed.
 */
const MULAW_SEGMENTS = [
  { first: 0, step: 2, last: 30 },
  { first: 33, step: 4, last: 93 },
  { first: 99, step: 8, last: 219 },
  { first: 231, step: 16, last: 471 },
  { first: 495, step: 32, last: 975 },
  { first: 1023, step: 64, last: 1983 },
  { first: 2079, step: 128, last: 3999 },
  { first: 4191, step: 256, last: 8031 },
];
/** Decision values at the segment ends (μ-law), standard scale. */
const MULAW_SEGMENT_ENDS = [1, 31, 95, 223, 479, 991, 2015, 4063, 8159];
const ALAW_SEGMENTS = [
  { first: 1, step: 2, last: 31 },
  { first: 33, step: 2, last: 63 },
  { first: 66, step: 4, last: 126 },
  { first: 132, step: 8, last: 252 },
  { first: 264, step: 16, last: 504 },
  { first: 528, step: 32, last: 1008 },
  { first: 1056, step: 64, last: 2016 },
  { first: 2112, step: 128, last: 4032 },
];
const ALAW_SEGMENT_ENDS = [0, 32, 64, 128, 256, 512, 1024, 2048, 4096];
/** 16-bit linear = standard scale × this (μ-law: 14-bit, A-law: 13-bit). */
const MULAW_SCALE = 4;
const ALAW_SCALE = 8;

/** code → 16-bit value per G.711: μ-law characters are the inverted sign/segment/step bits. */
function mulawReference(): Map<number, number> {
  const ref = new Map<number, number>();
  MULAW_SEGMENTS.forEach((seg, s) => {
    expect(seg.first + 15 * seg.step).toBe(seg.last);
    for (let m = 0; m < 16; m++) {
      const value = (seg.first + m * seg.step) * MULAW_SCALE;
      const magnitudeBits = (s << 4) | m;
      ref.set(0xff ^ magnitudeBits, value); // positive: sign bit 1, then inverted
      ref.set(0x7f ^ magnitudeBits, 0 - value);
    }
  });
  return ref;
}

/** A-law characters have the even bits inverted (XOR 0x55); sign bit 1 = positive. */
function alawReference(): Map<number, number> {
  const ref = new Map<number, number>();
  ALAW_SEGMENTS.forEach((seg, s) => {
    expect(seg.first + 15 * seg.step).toBe(seg.last);
    for (let m = 0; m < 16; m++) {
      const value = (seg.first + m * seg.step) * ALAW_SCALE;
      const bits = (s << 4) | m;
      ref.set((0x80 | bits) ^ 0x55, value);
      ref.set(bits ^ 0x55, 0 - value);
    }
  });
  return ref;
}

function expectBoundaryOnlyDifferences(mine: Uint8Array, theirs: Uint8Array, decode: (c: Uint8Array) => Int16Array): void {
  const a = decode(mine);
  const b = decode(theirs);
  let differences = 0;
  for (let i = 0; i < ALL_SAMPLES.length; i++) {
    if (mine[i] === theirs[i]) continue;
    differences++;
    expect(ALL_SAMPLES[i]).toBeLessThan(0);
    // adjacent quantisation levels: the sample sits on the decision value between them
    const lo = Math.min(a[i], b[i]);
    const hi = Math.max(a[i], b[i]);
    expect(ALL_SAMPLES[i]).toBeGreaterThanOrEqual(lo);
    expect(ALL_SAMPLES[i]).toBeLessThanOrEqual(hi);
    expect(Math.abs(Math.abs(a[i] - ALL_SAMPLES[i]) - Math.abs(b[i] - ALL_SAMPLES[i]))).toBeLessThanOrEqual(hi - lo);
  }
  expect(differences).toBeGreaterThan(0);
  expect(differences).toBeLessThan(128);
}

const ALL_SAMPLES = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);

describe('G.711 μ-law', () => {
  it('decodes all 256 codes to the ITU values', () => {
    const ref = mulawReference();
    const decoded = mulawDecode(Uint8Array.from({ length: 256 }, (_, i) => i));
    for (let c = 0; c < 256; c++) expect(decoded[c], `code 0x${c.toString(16)}`).toBe(ref.get(c));
  });

  it('encodes known pairs', () => {
    expect(Array.from(mulawEncode(Int16Array.of(0, 32767, -32768, -1)))).toEqual([0xff, 0x80, 0x00, 0x7f]);
  });

  it('quantises every 16-bit sample to its interval: monotonic, within half a step, segment ends right', () => {
    const codes = mulawEncode(ALL_SAMPLES);
    const out = mulawDecode(codes);
    const violations: string[] = [];
    for (let i = 1; i < out.length; i++) if (out[i] < out[i - 1]) violations.push(`not monotonic at ${ALL_SAMPLES[i]}`);
    const overload = MULAW_SEGMENT_ENDS[8] * MULAW_SCALE;
    for (let i = 0; i < ALL_SAMPLES.length; i++) {
      const x = ALL_SAMPLES[i];
      const a = Math.abs(x);
      if (a >= overload) {
        if (Math.abs(out[i]) !== 8031 * MULAW_SCALE) violations.push(`overload ${x} → ${out[i]}`);
        continue;
      }
      const seg = Math.max(0, MULAW_SEGMENT_ENDS.findIndex((end) => a < end * MULAW_SCALE) - 1);
      // half a step on the standard's 14-bit scale, plus the 2 bits below it that the encoder drops
      const halfStep = (MULAW_SEGMENTS[seg].step * MULAW_SCALE) / 2;
      if (Math.abs(out[i] - x) > halfStep + 4) violations.push(`x=${x} → ${out[i]}`);
    }
    expect(violations.slice(0, 5)).toEqual([]);
    // the decision value at each segment end changes the segment: just below it decodes into the
    // segment's last value, at it into the next segment's first value
    for (let s = 1; s < 8; s++) {
      const end = MULAW_SEGMENT_ENDS[s] * MULAW_SCALE;
      expect(mulawDecode(mulawEncode(Int16Array.of(end - 4)))[0]).toBe(MULAW_SEGMENTS[s - 1].last * MULAW_SCALE);
      expect(mulawDecode(mulawEncode(Int16Array.of(end)))[0]).toBe(MULAW_SEGMENTS[s].first * MULAW_SCALE);
    }
  });

  it('agrees with the alawmulaw package except on exact negative decision values', () => {
    expectBoundaryOnlyDifferences(mulawEncode(ALL_SAMPLES), alawmulaw.mulaw.encode(ALL_SAMPLES), mulawDecode);
  });

  it('decodes exactly like the alawmulaw package', () => {
    const codes = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(Array.from(mulawDecode(codes))).toEqual(Array.from(alawmulaw.mulaw.decode(codes)));
  });
});

describe('G.711 A-law', () => {
  it('decodes all 256 codes to the ITU values', () => {
    const ref = alawReference();
    const decoded = alawDecode(Uint8Array.from({ length: 256 }, (_, i) => i));
    for (let c = 0; c < 256; c++) expect(decoded[c], `code 0x${c.toString(16)}`).toBe(ref.get(c));
  });

  it('encodes known pairs', () => {
    expect(Array.from(alawEncode(Int16Array.of(0, 32767, -32768, -1)))).toEqual([0xd5, 0xaa, 0x2a, 0x55]);
  });

  it('quantises every 16-bit sample to its interval: monotonic, within half a step, segment ends right', () => {
    const out = alawDecode(alawEncode(ALL_SAMPLES));
    const violations: string[] = [];
    for (let i = 1; i < out.length; i++) if (out[i] < out[i - 1]) violations.push(`not monotonic at ${ALL_SAMPLES[i]}`);
    for (let i = 0; i < ALL_SAMPLES.length; i++) {
      const x = ALL_SAMPLES[i];
      const a = x < 0 ? -x - 1 : x; // A-law is symmetric around −½ LSB (one's complement)
      const seg = ALAW_SEGMENT_ENDS.findIndex((end) => a < end * ALAW_SCALE) - 1;
      const halfStep = (ALAW_SEGMENTS[seg].step * ALAW_SCALE) / 2;
      if (Math.abs(out[i] - x) > halfStep + 1) violations.push(`x=${x} → ${out[i]}`);
    }
    expect(violations.slice(0, 5)).toEqual([]);
    for (let s = 1; s < 8; s++) {
      const end = ALAW_SEGMENT_ENDS[s] * ALAW_SCALE;
      expect(alawDecode(alawEncode(Int16Array.of(end - 1)))[0]).toBe(ALAW_SEGMENTS[s - 1].last * ALAW_SCALE);
      expect(alawDecode(alawEncode(Int16Array.of(end)))[0]).toBe(ALAW_SEGMENTS[s].first * ALAW_SCALE);
    }
  });

  it('agrees with the alawmulaw package except on exact negative decision values', () => {
    // alawmulaw negates negatives (−x), the ITU reference code complements them (~x = −x − 1):
    // they differ only on the negative decision values, by one adjacent code.
    expectBoundaryOnlyDifferences(alawEncode(ALL_SAMPLES), alawmulaw.alaw.encode(ALL_SAMPLES), alawDecode);
  });
});
