/**
 * MurmurHash3 (x86, 32-bit) over the UTF-8 bytes of a string. Pins must be the same in every
 * gateway process and after restarts, so the hash is fixed, seedable and never process-seeded.
 * It is the standard algorithm, so a sidecar in another language can reproduce the pins.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** Reused UTF-8 scratch buffer: the hash runs once per session lookup, so no allocation. */
let scratch = new Uint8Array(256);
const encoder = new TextEncoder();

function utf8(key: string): number {
  const n = key.length;
  if (scratch.length < n * 3) scratch = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const c = key.charCodeAt(i);
    if (c >= 0x80) return encoder.encodeInto(key, scratch).written;
    scratch[i] = c;
  }
  return n;
}

/** MurmurHash3_x86_32 of `key`'s UTF-8 bytes; an unsigned 32-bit integer. */
export function murmur3(key: string, seed = 0): number {
  const len = utf8(key);
  const buf = scratch;
  let h = seed | 0;
  const blocks = len & ~3;
  for (let i = 0; i < blocks; i += 4) {
    let k = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const tail = len & 3;
  if (tail !== 0) {
    let k = 0;
    if (tail === 3) k ^= buf[blocks + 2] << 16;
    if (tail >= 2) k ^= buf[blocks + 1] << 8;
    k ^= buf[blocks];
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= len;
  return fmix32(h);
}

/** Murmur3's finalizer: a cheap, well-mixed 32-bit permutation. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
