/**
 * The audio file encoders (DESIGN.md §8): Int16 mono samples → the bytes of a streamable
 * container, produced chunk by chunk as audio arrives. One interface, one implementation per
 * format beside it (pcm, wav, mp3, opus, flac), one conformance suite every implementation runs
 * (encoder.common.case.ts). Used by the OpenAI speech API (src/server/speech-routes.ts) and by
 * `/v1/stream` (`format.encoding` mp3 | opus, src/audio/output.ts).
 *
 * Every encoder is synchronous and runs on the calling thread: measured at over 100× real time
 * per core for 24 kHz mono (bench/encoders.ts, bench/RESULTS.md), one stream costs under 1 % of
 * a core, below the point where a worker hop would pay for itself.
 */
import { VoicegateError } from '../../errors.ts';

/** Formats an encoder exists for. AAC has none (no maintained encoder on npm; docs/audio.md). */
export const ENCODER_FORMATS = ['mp3', 'opus', 'flac', 'wav', 'pcm'] as const;
export type EncoderFormat = (typeof ENCODER_FORMATS)[number];

export function isEncoderFormat(value: string): value is EncoderFormat {
  return (ENCODER_FORMATS as readonly string[]).includes(value);
}

/** Sample rates an encoder accepts (the gateway's output rates; Opus takes 8/12/16/24/48 kHz only). */
export interface EncoderOptions {
  /** Rate of the samples given to encode(), which is also the rate of the stream. */
  readonly sampleRate: number;
  /** Target bit rate in bits per second for lossy formats; each encoder documents its default. */
  readonly bitrate?: number;
}

export interface AudioEncoder {
  readonly format: EncoderFormat;
  /** The Content-Type of the stream (e.g. `audio/mpeg`, `audio/ogg; codecs=opus`). */
  readonly contentType: string;
  /**
   * Encodes `samples` (mono, at options.sampleRate) and returns the bytes completed so far:
   * possibly empty while a frame fills; the stream's header comes with the first call. The
   * returned bytes belong to the caller.
   */
  encode(samples: Int16Array): Uint8Array;
  /**
   * Pushes out every sample given so far without ending the stream (end of a segment on
   * `/v1/stream`): frame-based formats pad the last frame with silence.
   */
  flush(): Uint8Array;
  /**
   * Drops audio given but not yet returned (barge-in: none of it may be heard); the stream goes
   * on and stays decodable.
   */
  discard(): void;
  /** Ends the stream: what remains, and the trailer. A stream with no samples is still a valid, empty stream. */
  end(): Uint8Array;
  /** Frees what the encoder holds, without output (cancelled stream). Safe to call more than once, and after end(). */
  close(): void;
}

export const EMPTY = new Uint8Array(0);

/** Thrown for a format or sample rate an encoder cannot take, or by an encoder that cannot run. */
export class EncoderError extends VoicegateError<'unsupported_encoder_input' | 'encoder_failed'> {}

/** Concatenates byte chunks (returns the only one as is). */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 0) return EMPTY;
  if (parts.length === 1) return parts[0]!;
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
