/**
 * Twilio Media Streams output mode (PROTOCOLS.md §6) for telephony bridges.
 *
 * A bridge opens /v1/stream with `{"type":"start","mode":"twilio","stream_sid":"MZ…"}`. Audio
 * then leaves as Twilio `media` messages (base64 μ-law 8 kHz, 20 ms frames) and marks as
 * Twilio `mark` messages, so the bridge forwards every message that has an `event` key to
 * Twilio verbatim, and consumes the `type` messages (ready, segment, turn_end…) itself.
 * Twilio-shaped `clear` and `mark` from the bridge are accepted as cancel and mark.
 */

/** Twilio plays only μ-law at 8 kHz. */
export const TWILIO_FORMAT = { encoding: 'pcm_mulaw', sampleRate: 8000 } as const;
/** 20 ms frames (160 bytes): small enough for responsive barge-in with `clear`. */
export const TWILIO_FRAME_MS = 20;

const STREAM_SID = /^[A-Za-z0-9_-]{1,64}$/;

export function isValidStreamSid(sid: unknown): sid is string {
  return typeof sid === 'string' && STREAM_SID.test(sid);
}

/**
 * Builds the prefix once per session: per 20 ms frame only the base64 payload is added.
 * streamSid is validated to [A-Za-z0-9_-], so it needs no JSON escaping.
 */
export function twilioMediaPrefix(streamSid: string): string {
  return `{"event":"media","streamSid":"${streamSid}","media":{"payload":"`;
}

export const TWILIO_MEDIA_SUFFIX = '"}}';

export function twilioMediaMessage(prefix: string, frame: Uint8Array): string {
  return prefix + Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('base64') + TWILIO_MEDIA_SUFFIX;
}

export function twilioMarkMessage(streamSid: string, name: string): string {
  return JSON.stringify({ event: 'mark', streamSid, mark: { name } });
}

