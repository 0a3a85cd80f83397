import { describe, expect, it } from 'vitest';
import { murmur3 } from './hash.ts';

describe('murmur3', () => {
  // Reference vectors of MurmurHash3_x86_32 (SMHasher / mmh3).
  it.each([
    ['', 0, 0],
    ['', 1, 0x514e28b7],
    ['hello', 0, 0x248bfa47],
    ['Hello, world!', 1234, 0xfaf6cdb3],
    ['The quick brown fox jumps over the lazy dog', 0, 0x2e4ff723],
  ])('murmur3(%j, %d) matches the reference', (key, seed, expected) => {
    expect(murmur3(key, seed)).toBe(expected);
  });

  it('hashes the UTF-8 bytes of non-ASCII keys', () => {
    // "é" is C3 A9 in UTF-8; hashing it must differ from hashing the UTF-16 unit 0xE9.
    expect(murmur3('café')).toBe(murmur3('café'));
    expect(murmur3('café')).not.toBe(murmur3('cafe'));
    expect(murmur3('日本語のセッション')).toBe(murmur3('日本語のセッション'));
  });

  it('reads long keys after short ones (scratch buffer grows)', () => {
    const long = 'x'.repeat(1000);
    const a = murmur3(long);
    murmur3('short');
    expect(murmur3(long)).toBe(a);
  });
});
