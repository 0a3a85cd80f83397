/**
 * G.711 μ-law and A-law, bit-exact with the ITU-T reference software (G.191 STL `g711.c`).
 *
 * Encoding is one lookup in a 64 Ki-entry table indexed by the 16-bit sample (built once at
 * module load, 128 KiB for both laws); decoding is one lookup in a 256-entry table. This is
 * measurably faster than the `alawmulaw` package's per-sample segment search (see
 * bench/RESULTS.md, "Audio pipeline"), and the hot path (every 20 ms frame of every call)
 * runs through here.
 */

/** Encodes one 16-bit linear sample to μ-law, as G.191 STL `ulaw_compress` does. */
export function mulawEncodeSampleReference(sample: number): number {
  // STL works on the 14 most significant bits; negatives use one's complement (~x) so -1 → 0x7F.
  let absno = sample < 0 ? (~sample >> 2) + 33 : (sample >> 2) + 33;
  if (absno > 0x1fff) absno = 0x1fff;
  let i = absno >> 6;
  let segno = 1;
  while (i !== 0) {
    segno++;
    i >>= 1;
  }
  const highNibble = 0x8 - segno;
  const lowNibble = 0xf - ((absno >> segno) & 0xf);
  let out = (highNibble << 4) | lowNibble;
  if (sample >= 0) out |= 0x80;
  return out;
}

/** Decodes one μ-law byte to a 16-bit linear sample, as G.191 STL `ulaw_expand` does. */
export function mulawDecodeSampleReference(code: number): number {
  const inverted = ~code & 0xff;
  const exponent = (inverted >> 4) & 0x7;
  const mantissa = inverted & 0xf;
  const step = 4 << (exponent + 1);
  const magnitude = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 33;
  return code < 0x80 ? -magnitude : magnitude;
}

/** Encodes one 16-bit linear sample to A-law, as G.191 STL `alaw_compress` does. */
export function alawEncodeSampleReference(sample: number): number {
  let ix = sample < 0 ? ~sample >> 4 : sample >> 4;
  if (ix > 15) {
    let iexp = 1;
    while (ix > 16 + 15) {
      ix >>= 1;
      iexp++;
    }
    ix -= 16;
    ix += iexp << 4;
  }
  if (sample >= 0) ix |= 0x80;
  return ix ^ 0x55;
}

/** Decodes one A-law byte to a 16-bit linear sample, as G.191 STL `alaw_expand` does. */
export function alawDecodeSampleReference(code: number): number {
  const ix = (code ^ 0x55) & 0x7f;
  const iexp = ix >> 4;
  let mant = ix & 0xf;
  if (iexp > 0) mant += 16;
  mant = (mant << 4) + 0x8;
  if (iexp > 1) mant <<= iexp - 1;
  return code > 127 ? mant : -mant;
}

function buildEncodeTable(encode: (sample: number) => number): Uint8Array {
  const table = new Uint8Array(65536);
  for (let u = 0; u < 65536; u++) table[u] = encode((u << 16) >> 16);
  return table;
}

function buildDecodeTable(decode: (code: number) => number): Int16Array {
  const table = new Int16Array(256);
  for (let c = 0; c < 256; c++) table[c] = decode(c);
  return table;
}

/** μ-law code for every 16-bit sample, indexed by `sample & 0xffff`. */
export const MULAW_ENCODE_TABLE = buildEncodeTable(mulawEncodeSampleReference);
/** A-law code for every 16-bit sample, indexed by `sample & 0xffff`. */
export const ALAW_ENCODE_TABLE = buildEncodeTable(alawEncodeSampleReference);
/** Linear value of every μ-law code. */
export const MULAW_DECODE_TABLE = buildDecodeTable(mulawDecodeSampleReference);
/** Linear value of every A-law code. */
export const ALAW_DECODE_TABLE = buildDecodeTable(alawDecodeSampleReference);

/** μ-law silence (linear 0). */
export const MULAW_SILENCE = 0xff;
/** A-law silence (linear 0). */
export const ALAW_SILENCE = 0xd5;

/** Encodes `count` samples from `src[srcOffset…]` into `dst[dstOffset…]` as μ-law. */
export function mulawEncodeInto(src: Int16Array, srcOffset: number, count: number, dst: Uint8Array, dstOffset: number): void {
  const table = MULAW_ENCODE_TABLE;
  for (let i = 0; i < count; i++) dst[dstOffset + i] = table[src[srcOffset + i] & 0xffff];
}

/** Encodes `count` samples from `src[srcOffset…]` into `dst[dstOffset…]` as A-law. */
export function alawEncodeInto(src: Int16Array, srcOffset: number, count: number, dst: Uint8Array, dstOffset: number): void {
  const table = ALAW_ENCODE_TABLE;
  for (let i = 0; i < count; i++) dst[dstOffset + i] = table[src[srcOffset + i] & 0xffff];
}

export function mulawEncode(samples: Int16Array): Uint8Array {
  const out = new Uint8Array(samples.length);
  mulawEncodeInto(samples, 0, samples.length, out, 0);
  return out;
}

export function alawEncode(samples: Int16Array): Uint8Array {
  const out = new Uint8Array(samples.length);
  alawEncodeInto(samples, 0, samples.length, out, 0);
  return out;
}

export function mulawDecode(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  const table = MULAW_DECODE_TABLE;
  for (let i = 0; i < codes.length; i++) out[i] = table[codes[i]];
  return out;
}

export function alawDecode(codes: Uint8Array): Int16Array {
  const out = new Int16Array(codes.length);
  const table = ALAW_DECODE_TABLE;
  for (let i = 0; i < codes.length; i++) out[i] = table[codes[i]];
  return out;
}
