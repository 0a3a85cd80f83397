/**
 * The native WebSocket protocol `/v1/stream` (DESIGN.md §4; docs/protocol.md): parsing of
 * client messages with clear error codes, and the server's messages.
 *
 * Parsing is hand-written rather than zod: `text` messages arrive once per LLM token for
 * thousands of calls, and a failed parse must say exactly which field is wrong.
 */
import { OPUS_RATES } from '../audio/encoders/opus.ts';
import { CONTAINERS, ENCODINGS, SAMPLE_RATES, type Container, type Encoding, type SampleRate } from '../audio/format.ts';
import { VoicegateError, type NativeProtocolErrorCode } from '../errors.ts';
import type { SessionStartError } from '../session/errors.ts';
import { MAX_SPEED, MIN_SPEED } from './openai.ts';
import { TWILIO_FORMAT, TWILIO_FRAME_MS, isValidStreamSid } from './twilio.ts';

/** Error codes sent in `{"type":"error","code":…}`. Stable: clients switch on them (listed in src/errors.ts). */
export type ProtocolErrorCode = NativeProtocolErrorCode;

/** An error of the native protocol, in its wire terms: `errorMessage(err.code, err.message)`. */
export class ProtocolError extends VoicegateError<ProtocolErrorCode> {
  constructor(code: ProtocolErrorCode, message: string) {
    super(code, message);
  }

  /** A session that could not start, in this protocol's terms: the native protocol sends the neutral code as is. */
  static fromSessionStart(err: SessionStartError): ProtocolError {
    return new ProtocolError(err.code, err.message);
  }
}

export interface StartMessage {
  readonly type: 'start';
  /** `native` (binary audio frames) or `twilio` (Twilio media messages, docs/protocol.md). */
  readonly mode: 'native' | 'twilio';
  /** Twilio streamSid, required in twilio mode. */
  readonly streamSid?: string;
  readonly voice?: string;
  readonly language?: string;
  readonly encoding: Encoding;
  readonly sampleRate: SampleRate;
  readonly frameMs: number;
  /** `format.encoding` mp3 | opus: a compressed stream (then `encoding` is pcm_s16le). */
  readonly container?: Container;
  /** Speaking rate, MIN_SPEED–MAX_SPEED as on the HTTP speech API; absent = the voice's own. */
  readonly speed?: number;
}
export interface TextMessage {
  readonly type: 'text';
  readonly text: string;
}
export interface FlushMessage {
  readonly type: 'flush';
}
export interface CancelMessage {
  readonly type: 'cancel';
}
export interface MarkMessage {
  readonly type: 'mark';
  readonly name: string;
}
export type ClientMessage = StartMessage | TextMessage | FlushMessage | CancelMessage | MarkMessage;

/** Defaults when `start` omits its format: what voicebots most often want. */
export const DEFAULT_FORMAT = { encoding: 'pcm_s16le' as Encoding, sampleRate: 24000 as SampleRate };
/** frame_ms values accepted besides 0 (as produced): FRAME_MS_MIN to FRAME_MS_MAX. */
export const FRAME_MS_MAX = 1000;
/**
 * The shortest frame: 10 ms (the smallest frame telephony and WebRTC use). Shorter frames only
 * multiply messages (1 ms = 20× the messages of 20 ms) for no gain in latency.
 */
export const FRAME_MS_MIN = 10;
/** The longest `session_id` (the pinning key); a longer one is refused, not replaced. */
export const SESSION_ID_MAX = 200;

const FLUSH: FlushMessage = Object.freeze({ type: 'flush' });
const CANCEL: CancelMessage = Object.freeze({ type: 'cancel' });

function optionalString(obj: Record<string, unknown>, key: string, max = 200): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length > max) throw new ProtocolError('invalid_message', `"${key}" must be a string of at most ${max} characters`);
  return value;
}

function parseStart(obj: Record<string, unknown>): StartMessage {
  const voice = optionalString(obj, 'voice');
  const language = optionalString(obj, 'language', 20);
  let encoding = DEFAULT_FORMAT.encoding;
  let container: Container | undefined;
  let sampleRate: SampleRate = DEFAULT_FORMAT.sampleRate;
  const format = obj.format;
  if (format !== undefined) {
    if (!format || typeof format !== 'object' || Array.isArray(format)) throw new ProtocolError('invalid_message', '"format" must be an object {encoding, sample_rate}');
    const f = format as Record<string, unknown>;
    if (f.encoding !== undefined) {
      if (CONTAINERS.includes(f.encoding as Container)) container = f.encoding as Container;
      else if (!ENCODINGS.includes(f.encoding as Encoding)) throw new ProtocolError('unsupported_format', `format.encoding must be one of ${[...ENCODINGS, ...CONTAINERS].join(', ')}`);
      else encoding = f.encoding as Encoding;
    }
    if (f.sample_rate !== undefined) {
      if (!SAMPLE_RATES.includes(f.sample_rate as SampleRate)) throw new ProtocolError('unsupported_format', `format.sample_rate must be one of ${SAMPLE_RATES.join(', ')}`);
      sampleRate = f.sample_rate as SampleRate;
    }
    if (container === 'opus' && !OPUS_RATES.includes(sampleRate)) {
      throw new ProtocolError('unsupported_format', `opus takes format.sample_rate ${OPUS_RATES.filter((r) => (SAMPLE_RATES as readonly number[]).includes(r)).join(', ')}`);
    }
  }
  let frameMs = 0;
  if (obj.frame_ms !== undefined && obj.frame_ms !== null) {
    const v = obj.frame_ms;
    if (typeof v !== 'number' || !Number.isInteger(v) || (v !== 0 && (v < FRAME_MS_MIN || v > FRAME_MS_MAX))) {
      throw new ProtocolError('invalid_message', `"frame_ms" must be 0 (audio as produced) or an integer from ${FRAME_MS_MIN} to ${FRAME_MS_MAX}`);
    }
    frameMs = v;
  }
  let speed: number | undefined;
  if (obj.speed !== undefined && obj.speed !== null) {
    const v = obj.speed;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < MIN_SPEED || v > MAX_SPEED) throw new ProtocolError('invalid_message', `"speed" must be a number from ${MIN_SPEED} to ${MAX_SPEED}`);
    speed = v;
  }
  const mode = obj.mode ?? 'native';
  if (mode === 'native') return container ? { type: 'start', mode, voice, language, encoding, sampleRate, frameMs, container, speed } : { type: 'start', mode, voice, language, encoding, sampleRate, frameMs, speed };
  if (mode !== 'twilio') throw new ProtocolError('invalid_message', '"mode" must be "native" or "twilio"');
  if (container) throw new ProtocolError('unsupported_format', 'twilio mode sends pcm_mulaw at 8000 Hz only; omit "format"');
  if (!isValidStreamSid(obj.stream_sid)) throw new ProtocolError('invalid_message', 'twilio mode needs "stream_sid" (the streamSid of the Twilio media stream)');
  if (format !== undefined && (encoding !== TWILIO_FORMAT.encoding || sampleRate !== TWILIO_FORMAT.sampleRate)) {
    throw new ProtocolError('unsupported_format', 'twilio mode sends pcm_mulaw at 8000 Hz only; omit "format"');
  }
  return {
    type: 'start',
    mode,
    streamSid: obj.stream_sid,
    voice,
    language,
    speed,
    encoding: TWILIO_FORMAT.encoding,
    sampleRate: TWILIO_FORMAT.sampleRate,
    frameMs: obj.frame_ms === undefined || obj.frame_ms === null ? TWILIO_FRAME_MS : frameMs,
  };
}

/** Parses one text frame. Throws ProtocolError with the code to send back. */
export function parseClientMessage(frame: string): ClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    throw new ProtocolError('invalid_json', 'message is not valid JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ProtocolError('invalid_message', 'message must be a JSON object with a "type"');
  const obj = value as Record<string, unknown>;
  switch (obj.type) {
    case 'text':
      if (typeof obj.text !== 'string') throw new ProtocolError('invalid_message', '"text" must be a string');
      return { type: 'text', text: obj.text };
    case 'flush':
      return FLUSH;
    case 'cancel':
      return CANCEL;
    case 'mark':
      if (typeof obj.name !== 'string' || obj.name.length === 0 || obj.name.length > 200) throw new ProtocolError('invalid_message', '"name" must be a non-empty string of at most 200 characters');
      return { type: 'mark', name: obj.name };
    case 'start':
      return parseStart(obj);
    case undefined:
      // Twilio-shaped messages from a bridge in twilio mode.
      if (obj.event === 'clear') return CANCEL;
      if (obj.event === 'mark') {
        const mark = obj.mark as Record<string, unknown> | undefined;
        if (mark && typeof mark.name === 'string' && mark.name.length > 0 && mark.name.length <= 200) return { type: 'mark', name: mark.name };
        throw new ProtocolError('invalid_message', 'a Twilio mark needs mark.name');
      }
      throw new ProtocolError('invalid_message', 'message has no "type"');
    default:
      throw new ProtocolError('unknown_type', `unknown message type ${JSON.stringify(String(obj.type)).slice(0, 60)}; expected start, text, flush, cancel or mark`);
  }
}

// Server → client messages, a few per segment; the ones with no free text are built as strings directly.

export function readyMessage(sessionId: string, pool: string, instance: string, encoding: Encoding | Container, sampleRate: number, frameMs: number): string {
  return JSON.stringify({ type: 'ready', session_id: sessionId, pool, instance, format: { encoding, sample_rate: sampleRate }, frame_ms: frameMs });
}

export function segmentMessage(index: number, text: string, provider: string): string {
  return JSON.stringify({ type: 'segment', index, text, provider });
}

export function segmentEndMessage(index: number, audioMs: number): string {
  return `{"type":"segment_end","index":${index},"audio_ms":${Math.round(audioMs)}}`;
}

export function failoverMessage(index: number, from: string, to: string, reason: string, replay: boolean, voiceChanged: boolean): string {
  return JSON.stringify({ type: 'failover', index, from, to, reason, replay, voice_changed: voiceChanged });
}

export const TURN_END_MESSAGE = '{"type":"turn_end"}';
export const CANCELLED_MESSAGE = '{"type":"cancelled"}';

export function markMessage(name: string): string {
  return JSON.stringify({ type: 'mark', name });
}

export function errorMessage(code: ProtocolErrorCode, message: string, fatal = false, segments?: readonly number[]): string {
  return JSON.stringify(segments ? { type: 'error', code, message, fatal, segments } : { type: 'error', code, message, fatal });
}

/** The gateway drains: finish within deadline_ms, then reconnect (the same session_id keeps its instance). */
export function drainingMessage(deadlineMs: number): string {
  return `{"type":"draining","deadline_ms":${Math.round(deadlineMs)}}`;
}

/** A segment waits for capacity: the client may cover the gap (a filler, a hold tone). */
export function waitingMessage(index: number, queuePosition: number): string {
  return `{"type":"waiting","index":${index},"queue_position":${queuePosition}}`;
}

/** WebSocket close codes used for fatal errors. */
export const CLOSE_CODES = {
  normal: 1000,
  goingAway: 1001,
  policy: 1008,
  tooLarge: 1009,
  internal: 1011,
  tryAgainLater: 1013,
} as const;
