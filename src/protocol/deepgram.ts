/**
 * Deepgram's Aura TTS wire protocol (PROTOCOLS.md §8; read from @deepgram/sdk 5.x's speak v1
 * types and the LiveKit and Pipecat clients): `GET /v1/speak` (WebSocket) and `POST /v1/speak`.
 *
 * Client → server: JSON `{"type":"Speak","text"}`, `{"type":"Flush"}`, `{"type":"Clear"}`,
 * `{"type":"Close"}`. Server → client: binary audio; JSON `Metadata`, `Flushed`, `Cleared`,
 * `Warning` and, for fatal errors, `Error` before the close. Warnings and errors carry both the
 * SDK 5.x field names (`description`, `code`) and the older ones LiveKit reads (`warn_code`,
 * `warn_msg` / `err_code`, `err_msg`). Ignored: `mip_opt_out`, `bit_rate`, `tag`, `callback`.
 */
import type { Encoding, SampleRate } from '../audio/format.ts';
import { VoicegateError, type NativeProtocolErrorCode } from '../errors.ts';

/** Speak text longer than this is refused (Deepgram's own per-message limit). */
export const MAX_SPEAK_CHARS = 2000;

export type DeepgramClientMessage =
  | { readonly type: 'Speak'; readonly text: string }
  | { readonly type: 'Flush' }
  | { readonly type: 'Clear' }
  | { readonly type: 'Close' };

/** A Deepgram error in its wire terms. */
export class DeepgramError extends VoicegateError<'deepgram_error'> {
  constructor(
    /** HTTP status on REST and at the upgrade. */
    readonly status: number,
    /** Deepgram's err_code / warn_code (UPPER_SNAKE, as Deepgram sends them). */
    readonly wireCode: string,
    message: string,
  ) {
    super('deepgram_error', message);
  }
}

const FLUSH = Object.freeze({ type: 'Flush' as const });
const CLEAR = Object.freeze({ type: 'Clear' as const });
const CLOSE = Object.freeze({ type: 'Close' as const });

export function parseDeepgramMessage(frame: string): DeepgramClientMessage {
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    throw new DeepgramError(400, 'INVALID_JSON', 'message is not valid JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new DeepgramError(400, 'INVALID_MESSAGE', 'message must be a JSON object with a "type"');
  const obj = value as Record<string, unknown>;
  switch (obj.type) {
    case 'Speak':
      if (typeof obj.text !== 'string') throw new DeepgramError(400, 'INVALID_MESSAGE', 'Speak needs "text" (a string)');
      if (obj.text.length > MAX_SPEAK_CHARS) throw new DeepgramError(400, 'TEXT_TOO_LONG', `Speak text may be at most ${MAX_SPEAK_CHARS} characters`);
      return { type: 'Speak', text: obj.text };
    case 'Flush':
      return FLUSH;
    case 'Clear':
      return CLEAR;
    case 'Close':
      return CLOSE;
    default:
      throw new DeepgramError(400, 'UNKNOWN_MESSAGE_TYPE', `unknown message type ${JSON.stringify(String(obj.type)).slice(0, 60)}; expected Speak, Flush, Clear or Close`);
  }
}

export interface DeepgramFormat {
  readonly encoding: Encoding;
  readonly sampleRate: SampleRate;
  /** REST only: a WAV header before the audio. */
  readonly wav: boolean;
  readonly contentType: string;
}

const ENCODINGS: Readonly<Record<string, { encoding: Encoding; rates: readonly SampleRate[]; defaultRate: SampleRate }>> = {
  linear16: { encoding: 'pcm_s16le', rates: [8000, 16000, 22050, 24000, 44100, 48000], defaultRate: 24000 },
  mulaw: { encoding: 'pcm_mulaw', rates: [8000, 16000], defaultRate: 8000 },
  alaw: { encoding: 'pcm_alaw', rates: [8000, 16000], defaultRate: 8000 },
};

/** Query `encoding`, `sample_rate`, `container` → the output. `rest` applies the REST defaults. */
export function parseFormat(query: URLSearchParams, rest: boolean): DeepgramFormat {
  const name = query.get('encoding') ?? (rest ? 'mp3' : 'linear16');
  const spec = ENCODINGS[name];
  if (!spec) {
    const why = query.get('encoding') === null ? `no encoding given, and Deepgram's REST default (mp3) is not available here` : `encoding ${JSON.stringify(name).slice(0, 40)} is not available here`;
    throw new DeepgramError(400, 'UNSUPPORTED_AUDIO_FORMAT', `${why}; supported: ${Object.keys(ENCODINGS).join(', ')}`);
  }
  let sampleRate = spec.defaultRate;
  const rate = query.get('sample_rate');
  if (rate !== null) {
    const n = Number(rate) as SampleRate;
    if (!spec.rates.includes(n)) throw new DeepgramError(400, 'UNSUPPORTED_AUDIO_FORMAT', `sample_rate for ${name} must be one of ${spec.rates.join(', ')}`);
    sampleRate = n;
  }
  const container = query.get('container') ?? (rest ? 'wav' : 'none');
  if (container !== 'none' && !(rest && container === 'wav')) throw new DeepgramError(400, 'UNSUPPORTED_AUDIO_FORMAT', `container must be ${rest ? '"wav" or "none"' : '"none" on the WebSocket'}`);
  const wav = container === 'wav';
  const contentType = wav ? 'audio/wav' : name === 'linear16' ? `audio/l16;rate=${sampleRate}` : name === 'mulaw' ? 'audio/basic' : 'audio/x-alaw-basic';
  return { encoding: spec.encoding, sampleRate, wav, contentType };
}

/** `speed` (0.7–1.5), or undefined. */
export function parseSpeed(query: URLSearchParams): number | undefined {
  const value = query.get('speed');
  if (value === null || value === '') return undefined;
  const n = Number(value);
  if (!(n >= 0.7 && n <= 1.5)) throw new DeepgramError(400, 'INVALID_QUERY_PARAMETER', 'speed must be a number from 0.7 to 1.5');
  return n;
}

/** `Authorization: Token <key>` (the SDKs, LiveKit, Pipecat, jambonz) or `Bearer <token>`. */
export function deepgramKeyOf(headers: Readonly<Record<string, string>>): string | undefined {
  const auth = headers.authorization;
  if (!auth) return undefined;
  const space = auth.indexOf(' ');
  if (space < 0) return undefined;
  const scheme = auth.slice(0, space).toLowerCase();
  return scheme === 'token' || scheme === 'bearer' ? auth.slice(space + 1).trim() : undefined;
}

// Server → client.

export function metadataMessage(requestId: string, modelName: string): string {
  return JSON.stringify({ type: 'Metadata', request_id: requestId, model_name: modelName, model_version: 'voicegate', model_uuid: requestId });
}

export function flushedMessage(sequenceId: number): string {
  return `{"type":"Flushed","sequence_id":${sequenceId}}`;
}

export function clearedMessage(sequenceId: number): string {
  return `{"type":"Cleared","sequence_id":${sequenceId}}`;
}

export function warningMessage(err: DeepgramError): string {
  return JSON.stringify({ type: 'Warning', description: err.message, code: err.wireCode, warn_code: err.wireCode, warn_msg: err.message });
}

export function errorMessage(err: DeepgramError): string {
  return JSON.stringify({ type: 'Error', description: err.message, code: err.wireCode, err_code: err.wireCode, err_msg: err.message });
}

/** The REST (and upgrade refusal) error body. */
export function httpErrorBody(err: DeepgramError, requestId: string): string {
  return JSON.stringify({ err_code: err.wireCode, err_msg: err.message, request_id: requestId });
}

const STATUS_OF: Readonly<Partial<Record<NativeProtocolErrorCode, readonly [number, string]>>> = {
  invalid_json: [400, 'INVALID_JSON'],
  invalid_message: [400, 'INVALID_MESSAGE'],
  message_too_large: [413, 'MESSAGE_TOO_LARGE'],
  unsupported_format: [400, 'UNSUPPORTED_AUDIO_FORMAT'],
  unknown_voice: [400, 'INVALID_MODEL'],
  turn_too_long: [400, 'TEXT_TOO_LONG'],
  unauthorized: [401, 'INVALID_AUTH'],
  no_capacity: [429, 'TOO_MANY_REQUESTS'],
  at_capacity: [429, 'TOO_MANY_REQUESTS'],
  fleet_saturated: [429, 'TOO_MANY_REQUESTS'],
  overloaded: [503, 'SERVICE_UNAVAILABLE'],
  shutting_down: [503, 'SERVICE_UNAVAILABLE'],
  client_too_slow: [400, 'CLIENT_TOO_SLOW'],
  synthesis_failed: [500, 'SYNTHESIS_FAILED'],
};

/** A voicegate error (any code, including later ones) in Deepgram's terms. */
export function fromVoicegateError(code: NativeProtocolErrorCode, message: string): DeepgramError {
  const [status, dgCode] = STATUS_OF[code] ?? [500, code.toUpperCase()];
  return new DeepgramError(status, dgCode, message);
}
