/**
 * A small Ogg page writer (RFC 3533) for one logical stream: enough to carry Opus (RFC 7845).
 * Each call to page() returns one complete page holding the given packets.
 */

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let r = i << 24;
    for (let j = 0; j < 8; j++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
    table[i] = r >>> 0;
  }
  return table;
})();

/** Ogg's CRC-32: polynomial 0x04c11db7, initial 0, no reflection, no final xor. */
export function oggCrc(bytes: Uint8Array): number {
  let crc = 0;
  for (let i = 0; i < bytes.length; i++) crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ bytes[i]!) & 0xff]!) >>> 0;
  return crc;
}

export const OGG_BOS = 0x02;
export const OGG_EOS = 0x04;
/** A page holds at most 255 lacing values; one packet of n bytes takes floor(n/255)+1. */
const MAX_SEGMENTS = 255;

export class OggPageWriter {
  private sequence = 0;

  constructor(private readonly serial: number) {}

  /** Lacing values a packet takes. */
  static segmentsOf(packet: Uint8Array): number {
    return Math.floor(packet.length / 255) + 1;
  }

  /** Whether `packets` fit one page (callers split longer runs). */
  static fits(packets: readonly Uint8Array[]): boolean {
    let segments = 0;
    for (const p of packets) segments += OggPageWriter.segmentsOf(p);
    return segments <= MAX_SEGMENTS;
  }

  /**
   * One page with whole `packets`. `granule`: the granule position after the last packet that
   * ends on this page (Opus: 48 kHz samples including pre-skip). `flags`: OGG_BOS / OGG_EOS.
   */
  page(packets: readonly Uint8Array[], granule: number, flags = 0): Uint8Array {
    const lacing: number[] = [];
    let body = 0;
    for (const p of packets) {
      for (let left = p.length; ; left -= 255) {
        if (left >= 255) lacing.push(255);
        else {
          lacing.push(left);
          break;
        }
      }
      body += p.length;
    }
    if (lacing.length > MAX_SEGMENTS) throw new RangeError(`an Ogg page holds 255 segments, not ${lacing.length}`);
    const headerLength = 27 + lacing.length;
    const page = new Uint8Array(headerLength + body);
    const view = new DataView(page.buffer);
    page.set([0x4f, 0x67, 0x67, 0x53]); // "OggS"
    page[4] = 0; // version
    page[5] = flags;
    view.setUint32(6, granule % 0x1_0000_0000, true);
    view.setUint32(10, Math.floor(granule / 0x1_0000_0000), true);
    view.setUint32(14, this.serial, true);
    view.setUint32(18, this.sequence++, true);
    // CRC (22..25) is computed with the field zero, then written.
    page[26] = lacing.length;
    page.set(lacing, 27);
    let offset = headerLength;
    for (const p of packets) {
      page.set(p, offset);
      offset += p.length;
    }
    view.setUint32(22, oggCrc(page), true);
    return page;
  }
}
