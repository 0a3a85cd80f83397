/**
 * `flac`: a small streaming FLAC encoder written here (npm has decoders and libFLAC builds
 * that encode whole files, none that streams; the format is simple enough). 16-bit mono,
 * fixed block size (the strategy every decoder takes; flush() pads the open block with
 * silence, the last block of the stream may be short); each block is coded with
 * the best of FIXED predictors 0–4 (or CONSTANT for digital silence) and one Rice partition.
 * Lossless, about 75 % of the PCM size on the bench's speech-like audio (288 vs 384 kbit/s,
 * bench/RESULTS.md "Encoders").
 */
import { EMPTY, EncoderError, concatBytes, type AudioEncoder, type EncoderOptions } from './encoder.ts';

/** Samples per FLAC frame (85 ms at 24 kHz): latency versus per-frame overhead. */
export const FLAC_BLOCK = 2048;
const MAX_RICE = 14;

const CRC8 = (() => {
  const t = new Uint8Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let j = 0; j < 8; j++) c = c & 0x80 ? ((c << 1) ^ 0x07) & 0xff : (c << 1) & 0xff;
    t[i] = c;
  }
  return t;
})();
const CRC16 = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x8005) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

function crc8(bytes: Uint8Array, end: number): number {
  let c = 0;
  for (let i = 0; i < end; i++) c = CRC8[c ^ bytes[i]!]!;
  return c;
}
function crc16(bytes: Uint8Array, end: number): number {
  let c = 0;
  for (let i = 0; i < end; i++) c = ((c << 8) & 0xffff) ^ CRC16[(c >> 8) ^ bytes[i]!]!;
  return c;
}

/** MSB-first bit writer over a growable buffer. */
class BitWriter {
  buf = new Uint8Array(8192);
  pos = 0; // bytes complete
  private acc = 0; // pending bits (< 8 after each write)
  private bits = 0;

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + extra));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Writes the low `n` bits of `value` (n ≤ 24). */
  write(value: number, n: number): void {
    if (n === 0) return;
    this.ensure(4);
    this.acc = (this.acc << n) | (value & ((1 << n) - 1));
    this.bits += n;
    while (this.bits >= 8) {
      this.bits -= 8;
      this.buf[this.pos++] = (this.acc >>> this.bits) & 0xff;
    }
    this.acc &= (1 << this.bits) - 1;
  }

  /** `count` zero bits then a one (Rice quotient). */
  unary(count: number): void {
    while (count >= 16) {
      this.write(0, 16);
      count -= 16;
    }
    this.write(1, count + 1);
  }

  alignZero(): void {
    if (this.bits > 0) this.write(0, 8 - this.bits);
  }

  reset(): void {
    this.pos = 0;
    this.acc = 0;
    this.bits = 0;
  }
}

function rateCode(rate: number): number {
  const codes: Record<number, number> = { 88200: 1, 176400: 2, 192000: 3, 8000: 4, 16000: 5, 22050: 6, 24000: 7, 32000: 8, 44100: 9, 48000: 10, 96000: 11 };
  return codes[rate] ?? 0; // 0: take it from STREAMINFO
}

/** FIXED predictor residual of order `order` at sample i (i ≥ order). */
function residual(x: Int16Array, i: number, order: number): number {
  switch (order) {
    case 0:
      return x[i]!;
    case 1:
      return x[i]! - x[i - 1]!;
    case 2:
      return x[i]! - 2 * x[i - 1]! + x[i - 2]!;
    case 3:
      return x[i]! - 3 * x[i - 1]! + 3 * x[i - 2]! - x[i - 3]!;
    default:
      return x[i]! - 4 * x[i - 1]! + 6 * x[i - 2]! - 4 * x[i - 3]! + x[i - 4]!;
  }
}

function riceParameter(sumAbs: number, count: number): number {
  if (count === 0) return 0;
  const mean = sumAbs / count;
  let k = 0;
  while (k < MAX_RICE && 1 << (k + 1) <= mean) k++;
  return k;
}

export class FlacEncoder implements AudioEncoder {
  readonly format = 'flac';
  readonly contentType = 'audio/flac';
  private readonly sampleRate: number;
  private readonly block = new Int16Array(FLAC_BLOCK);
  private fill = 0;
  private frameNumber = 0;
  private headerSent = false;
  private ended = false;
  private readonly w = new BitWriter();

  constructor(options: EncoderOptions) {
    if (!Number.isInteger(options.sampleRate) || options.sampleRate <= 0 || options.sampleRate > 655_350) throw new EncoderError('unsupported_encoder_input', `flac cannot encode ${options.sampleRate} Hz`);
    this.sampleRate = options.sampleRate;
  }

  /** "fLaC" and STREAMINFO; sizes, total and MD5 unknown (0) as the stream is live. */
  private header(): Uint8Array[] {
    if (this.headerSent) return [];
    this.headerSent = true;
    const out = new Uint8Array(4 + 4 + 34);
    out.set([0x66, 0x4c, 0x61, 0x43]);
    out.set([0x80, 0, 0, 34], 4); // last metadata block, type 0 STREAMINFO, length 34
    const v = new DataView(out.buffer, 8);
    v.setUint16(0, FLAC_BLOCK);
    v.setUint16(2, FLAC_BLOCK);
    // min/max frame size (24 bits each) unknown: 0. Then rate (20) | channels-1 (3) | bps-1 (5) | total samples (36).
    const rate = this.sampleRate;
    out[8 + 10] = (rate >> 12) & 0xff;
    out[8 + 11] = (rate >> 4) & 0xff;
    out[8 + 12] = ((rate & 0x0f) << 4) | (0 << 1) | ((15 >> 4) & 1);
    out[8 + 13] = (15 & 0x0f) << 4; // bps-1 low bits; total samples high nibble 0
    return [out];
  }

  private frame(x: Int16Array, n: number): Uint8Array {
    const w = this.w;
    w.reset();
    // Frame header: sync 0b11111111111110, reserved 0, blocking strategy 0 (fixed).
    w.write(0xfff8, 16);
    const rc = rateCode(this.sampleRate);
    w.write(7, 4); // block size: 16-bit (n-1) at the end of the header
    w.write(rc, 4);
    w.write(0, 4); // mono
    w.write(4, 3); // 16 bits per sample
    w.write(0, 1);
    this.utf8Number(this.frameNumber);
    w.write(n - 1, 16);
    w.alignZero();
    w.write(crc8(w.buf, w.pos), 8);
    this.subframe(x, n);
    w.alignZero();
    w.write(crc16(w.buf, w.pos), 16);
    this.frameNumber++;
    return w.buf.slice(0, w.pos);
  }

  /** A frame number in FLAC's extended UTF-8 coding (up to 31 bits). */
  private utf8Number(value: number): void {
    const w = this.w;
    if (value < 0x80) {
      w.write(value, 8);
      return;
    }
    let bytes = 2;
    while (bytes < 7 && value >= 2 ** (5 * bytes + 1)) bytes++;
    const lead = (0xff00 >> bytes) & 0xff;
    const shift = 6 * (bytes - 1);
    w.write(lead | Math.floor(value / 2 ** shift), 8);
    for (let i = bytes - 2; i >= 0; i--) w.write(0x80 | (Math.floor(value / 2 ** (6 * i)) & 0x3f), 8);
  }

  private subframe(x: Int16Array, n: number): void {
    const w = this.w;
    let constant = true;
    for (let i = 1; i < n && constant; i++) constant = x[i] === x[0];
    if (constant) {
      w.write(0, 8); // pad 0, type 000000 CONSTANT, no wasted bits
      w.write(x[0]!, 16);
      return;
    }
    let bestOrder = 0;
    let bestSum = Infinity;
    for (let order = 0; order <= 4 && order < n; order++) {
      let sum = 0;
      for (let i = order; i < n; i++) sum += Math.abs(residual(x, i, order));
      if (sum < bestSum) {
        bestSum = sum;
        bestOrder = order;
      }
    }
    w.write(0, 1);
    w.write(0b001000 | bestOrder, 6); // FIXED, order
    w.write(0, 1);
    for (let i = 0; i < bestOrder; i++) w.write(x[i]!, 16);
    const k = riceParameter(bestSum, n - bestOrder);
    w.write(0, 2); // Rice, 4-bit parameters
    w.write(0, 4); // partition order 0
    w.write(k, 4);
    const mask = (1 << k) - 1;
    for (let i = bestOrder; i < n; i++) {
      const r = residual(x, i, bestOrder);
      const u = r >= 0 ? 2 * r : -2 * r - 1;
      w.unary(Math.floor(u / (1 << k)));
      w.write(u & mask, k);
    }
  }

  encode(samples: Int16Array): Uint8Array {
    if (this.ended) throw new EncoderError('encoder_failed', 'flac encoder used after end()');
    const parts = this.header();
    let offset = 0;
    while (offset < samples.length) {
      const n = Math.min(FLAC_BLOCK - this.fill, samples.length - offset);
      this.block.set(samples.subarray(offset, offset + n), this.fill);
      this.fill += n;
      offset += n;
      if (this.fill === FLAC_BLOCK) {
        parts.push(this.frame(this.block, FLAC_BLOCK));
        this.fill = 0;
      }
    }
    return concatBytes(parts);
  }

  flush(): Uint8Array {
    if (this.ended) return EMPTY;
    const parts = this.header();
    if (this.fill > 0) {
      this.block.fill(0, this.fill);
      parts.push(this.frame(this.block, FLAC_BLOCK));
      this.fill = 0;
    }
    return concatBytes(parts);
  }

  discard(): void {
    this.fill = 0;
  }

  end(): Uint8Array {
    if (this.ended) return EMPTY;
    const parts = this.header();
    if (this.fill > 0) parts.push(this.frame(this.block, this.fill));
    this.fill = 0;
    this.ended = true;
    return concatBytes(parts);
  }

  close(): void {
    this.ended = true;
  }
}
