/**
 * `opus`: Opus in Ogg (RFC 7845), the format of OpenAI's `opus`. libopus through @evan/opus
 * (its native addon where the prebuilt binary loads, its WASM build otherwise), chosen by
 * measurement over opusscript (bench/RESULTS.md "Encoders"). Pages are written by ogg.ts.
 *
 * 20 ms frames; every encode() returns the frames it completed as one page (more past 50
 * packets), so audio leaves as it is produced: with small backend chunks a page per 20 ms
 * of audio, with bigger chunks more packets per page.
 */
import { createRequire } from 'node:module';
import { randomInt } from 'node:crypto';
import { EMPTY, EncoderError, concatBytes, type AudioEncoder, type EncoderOptions } from './encoder.ts';
import { OGG_BOS, OGG_EOS, OggPageWriter } from './ogg.ts';

const require = createRequire(import.meta.url);

interface OpusEncoderLike {
  encode(pcm: Int16Array): Uint8Array;
  bitrate: number;
  readonly lookahead: number;
}
interface OpusLib {
  Encoder: new (options: { channels: 1 | 2; sample_rate: number; application: 'voip' | 'audio' | 'restricted_lowdelay' }) => OpusEncoderLike;
}

let lib: OpusLib | undefined;
function opusLib(): OpusLib {
  lib ??= require('@evan/opus') as OpusLib;
  return lib;
}

/** Loads libopus now (gateway start-up). */
export function preloadOpus(): void {
  opusLib();
}

export const OPUS_RATES = [8000, 12000, 16000, 24000, 48000];
/** 32 kbit/s: transparent-sounding wideband speech (Opus's own guidance for VoIP is 16–32). */
export const OPUS_DEFAULT_BITRATE = 32_000;
const FRAME_MS = 20;
const VENDOR = 'voicegate';

function opusHead(channels: number, preSkip: number, inputRate: number): Uint8Array {
  const head = new Uint8Array(19);
  const view = new DataView(head.buffer);
  head.set(Buffer.from('OpusHead', 'latin1'));
  head[8] = 1; // version
  head[9] = channels;
  view.setUint16(10, preSkip, true);
  view.setUint32(12, inputRate, true);
  view.setInt16(16, 0, true); // output gain
  head[18] = 0; // mapping family: mono/stereo
  return head;
}

function opusTags(): Uint8Array {
  const vendor = Buffer.from(VENDOR, 'utf8');
  const tags = new Uint8Array(8 + 4 + vendor.length + 4);
  const view = new DataView(tags.buffer);
  tags.set(Buffer.from('OpusTags', 'latin1'));
  view.setUint32(8, vendor.length, true);
  tags.set(vendor, 12);
  view.setUint32(12 + vendor.length, 0, true); // no comments
  return tags;
}

export class OpusEncoder implements AudioEncoder {
  readonly format = 'opus';
  readonly contentType = 'audio/ogg; codecs=opus';
  private readonly encoder: OpusEncoderLike;
  private readonly ogg = new OggPageWriter(randomInt(0, 0x7fffffff));
  private readonly frameSize: number;
  /** 48 kHz granule units per input sample. */
  private readonly granuleScale: number;
  private readonly preSkip: number;
  private readonly sampleRate: number;
  private readonly pending: Int16Array;
  private pendingCount = 0;
  /** Granule position after the packets written so far: 48 kHz samples decoded, pre-skip included (RFC 7845 §4). */
  private granule = 0;
  /** Real samples given (the end trims the padding of the last frame through the granule). */
  private samplesIn = 0;
  private headerSent = false;
  private ended = false;

  constructor(options: EncoderOptions) {
    if (!OPUS_RATES.includes(options.sampleRate)) throw new EncoderError('unsupported_encoder_input', `opus cannot encode ${options.sampleRate} Hz; rates: ${OPUS_RATES.join(', ')}`);
    this.sampleRate = options.sampleRate;
    this.encoder = new (opusLib().Encoder)({ channels: 1, sample_rate: options.sampleRate, application: 'audio' });
    this.encoder.bitrate = options.bitrate ?? OPUS_DEFAULT_BITRATE;
    this.frameSize = (options.sampleRate * FRAME_MS) / 1000;
    this.granuleScale = 48000 / options.sampleRate;
    this.pending = new Int16Array(this.frameSize);
    // The encoder's delay, written as pre-skip so players drop it.
    const lookahead = this.encoder.lookahead;
    this.preSkip = Math.round((lookahead > 0 ? lookahead : 0) * this.granuleScale);
  }

  private headers(): Uint8Array[] {
    if (this.headerSent) return [];
    this.headerSent = true;
    return [this.ogg.page([opusHead(1, this.preSkip, this.sampleRate)], 0, OGG_BOS), this.ogg.page([opusTags()], 0)];
  }

  private encodeFrame(frame: Int16Array): Uint8Array {
    // Copied: the native addon returns a view of a buffer it reuses.
    const packet = this.encoder.encode(frame).slice();
    this.granule += this.frameSize * this.granuleScale;
    return packet;
  }

  /** Pages for `packets`, split so that each fits one page; the last page carries `flags`. */
  private pages(packets: Uint8Array[], flags = 0, finalGranule?: number): Uint8Array[] {
    if (packets.length === 0) return flags ? [this.ogg.page([], finalGranule ?? this.granule, flags)] : [];
    const out: Uint8Array[] = [];
    let start = 0;
    // A 20 ms packet is at most a few hundred bytes: 50 packets per page keep well under 255 segments.
    const perPage = 50;
    const packetsGranuleStart = this.granule - packets.length * this.frameSize * this.granuleScale;
    while (start < packets.length) {
      const end = Math.min(packets.length, start + perPage);
      const last = end === packets.length;
      const granule = last && finalGranule !== undefined ? finalGranule : packetsGranuleStart + end * this.frameSize * this.granuleScale;
      out.push(this.ogg.page(packets.slice(start, end), granule, last ? flags : 0));
      start = end;
    }
    return out;
  }

  encode(samples: Int16Array): Uint8Array {
    if (this.ended) throw new EncoderError('encoder_failed', 'opus encoder used after end()');
    const head = this.headers();
    this.samplesIn += samples.length;
    return concatBytes([...head, ...this.pages(this.frames(samples))]);
  }

  /** Packets of the frames `samples` completes; the rest waits in `pending`. */
  private frames(samples: Int16Array): Uint8Array[] {
    const packets: Uint8Array[] = [];
    let offset = 0;
    const size = this.frameSize;
    if (this.pendingCount > 0) {
      const n = Math.min(size - this.pendingCount, samples.length);
      this.pending.set(samples.subarray(0, n), this.pendingCount);
      this.pendingCount += n;
      offset = n;
      if (this.pendingCount === size) {
        packets.push(this.encodeFrame(this.pending));
        this.pendingCount = 0;
      }
    }
    for (; offset + size <= samples.length; offset += size) packets.push(this.encodeFrame(samples.subarray(offset, offset + size)));
    if (offset < samples.length) {
      this.pending.set(samples.subarray(offset), 0);
      this.pendingCount = samples.length - offset;
    }
    return packets;
  }

  /** Pads the open frame with silence and sends it. */
  flush(): Uint8Array {
    if (this.ended) return EMPTY;
    const head = this.headers();
    // The padding is played: it counts as audio for the final granule position.
    return concatBytes([...head, ...this.pages(this.padPending(true))]);
  }

  private padPending(countPadding: boolean): Uint8Array[] {
    if (this.pendingCount === 0) return [];
    if (countPadding) this.samplesIn += this.frameSize - this.pendingCount;
    this.pending.fill(0, this.pendingCount);
    this.pendingCount = 0;
    return [this.encodeFrame(this.pending)];
  }

  /** Drops the open frame (libopus keeps its few ms of lookahead; they are faded by the codec). */
  discard(): void {
    this.samplesIn -= this.pendingCount;
    this.pendingCount = 0;
  }

  end(): Uint8Array {
    if (this.ended) return EMPTY;
    const head = this.headers();
    // The encoder holds `lookahead` samples back: push them out with silence, then pad the frame.
    const packets = this.frames(new Int16Array(Math.round(this.preSkip / this.granuleScale)));
    packets.push(...this.padPending(false));
    this.ended = true;
    // The last granule position counts only real samples: players trim the padding (RFC 7845 §4.4).
    const finalGranule = this.preSkip + Math.round(this.samplesIn * this.granuleScale);
    return concatBytes([...head, ...this.pages(packets, OGG_EOS, Math.min(finalGranule, this.granule))]);
  }

  close(): void {
    this.ended = true;
  }
}
