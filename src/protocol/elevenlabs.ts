/**
 * ElevenLabs' streaming TTS wire protocol (PROTOCOLS.md §7, §8; read from
 * @elevenlabs/elevenlabs-js 2.x's serializers, its AsyncAPI spec and the LiveKit and Pipecat
 * clients): the `stream-input` and `multi-stream-input` WebSockets and the HTTP `/stream`.
 *
 * Client → server is snake_case (`context_id`, `close_context`, `xi_api_key`); server →
 * client is camelCase (`contextId`, `isFinal`, `normalizedAlignment`). Fields voicegate has no
 * use for (stability, similarity_boost, style, chunk_length_schedule, pronunciation
 * dictionaries, seed, enable_ssml_parsing, apply_text_normalization) are accepted and ignored.
 */
import type { Encoding, SampleRate } from '../audio/format.ts';
import { VoicegateError, type NativeProtocolErrorCode } from '../errors.ts';
import type { CharAlignment } from './timestamps.ts';

/** Longest context_id accepted. */
export const MAX_CONTEXT_ID = 200;
/** ElevenLabs' default and ceiling for inactivity_timeout, seconds. */
export const DEFAULT_INACTIVITY_TIMEOUT_S = 20;
export const MAX_INACTIVITY_TIMEOUT_S = 180;

/** An ElevenLabs error in its wire terms. */
export class ElevenLabsError extends VoicegateError<'elevenlabs_error'> {
  constructor(
    /** HTTP status on the REST API; on the WebSocket, the close code a fatal error ends with. */
    readonly status: number,
    /** ElevenLabs' machine-readable code: `status` of the REST error detail, `error` on the WebSocket. */
    readonly wireCode: string,
    message: string,
    readonly contextId?: string,
  ) {
    super('elevenlabs_error', message);
  }
}

export interface ElevenLabsFormat {
  readonly encoding: Encoding;
  readonly sampleRate: SampleRate;
  readonly contentType: string;
  /** `mp3_*`: an MP3 stream at `sampleRate` (then `encoding` is pcm_s16le). */
  readonly container?: 'mp3';
}

const PCM_RATES: readonly SampleRate[] = [8000, 16000, 22050, 24000, 44100, 48000];

/** MP3 sample rates of ElevenLabs' mp3_<rate>_<kbps> formats that the MP3 encoder takes. */
const MP3_RATES: readonly SampleRate[] = [16000, 22050, 24000, 44100, 48000];

/**
 * The output_format values voicegate produces. `mp3_<rate>_<kbps>`: MP3 at that rate; the bit
 * rate is voicegate's own (64 kbit/s CBR, src/audio/encoders/mp3.ts), not the name's.
 * opus_* is not offered.
 */
export const SUPPORTED_OUTPUT_FORMATS: readonly string[] = [...PCM_RATES.map((r) => `pcm_${r}`), 'ulaw_8000', 'alaw_8000', ...MP3_RATES.map((r) => `mp3_${r}_*`)];

/** ElevenLabs' own default when the client names none. */
export const DEFAULT_OUTPUT_FORMAT = 'mp3_44100_128';

/** `output_format` → what the session produces. Throws for formats voicegate cannot make. */
export function parseOutputFormat(value: string | null | undefined): ElevenLabsFormat {
  const name = value === null || value === undefined || value === '' ? DEFAULT_OUTPUT_FORMAT : value;
  if (name === 'ulaw_8000') return { encoding: 'pcm_mulaw', sampleRate: 8000, contentType: 'audio/basic' };
  if (name === 'alaw_8000') return { encoding: 'pcm_alaw', sampleRate: 8000, contentType: 'audio/x-alaw-basic' };
  if (name.startsWith('pcm_')) {
    const rate = Number(name.slice(4)) as SampleRate;
    if (PCM_RATES.includes(rate)) return { encoding: 'pcm_s16le', sampleRate: rate, contentType: `audio/pcm;rate=${rate}` };
  }
  const mp3 = /^mp3_(\d+)_\d+$/.exec(name);
  if (mp3 && MP3_RATES.includes(Number(mp3[1]) as SampleRate)) return { encoding: 'pcm_s16le', sampleRate: Number(mp3[1]) as SampleRate, contentType: 'audio/mpeg', container: 'mp3' };
  const why = value ? `output_format ${JSON.stringify(name).slice(0, 40)} is not available here` : `no output_format given, and ElevenLabs' default (${DEFAULT_OUTPUT_FORMAT}) is not available here`;
  throw new ElevenLabsError(400, 'output_format_not_supported', `${why}; supported: ${SUPPORTED_OUTPUT_FORMATS.join(', ')}`);
}

/** `inactivity_timeout` (seconds) from the query, bounded like ElevenLabs'. */
export function parseInactivityTimeout(value: string | null): number {
  if (value === null || value === '') return DEFAULT_INACTIVITY_TIMEOUT_S;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_INACTIVITY_TIMEOUT_S) throw new ElevenLabsError(400, 'invalid_parameters', `inactivity_timeout must be an integer from 1 to ${MAX_INACTIVITY_TIMEOUT_S}`);
  return n;
}

/** One client message on either WebSocket, with the fields voicegate acts on. */
export interface ElevenLabsMessage {
  /** undefined when the message has no `text` (flush, close_context, close_socket). */
  readonly text: string | undefined;
  /** Multi-context only; undefined = the default context. */
  readonly contextId: string | undefined;
  readonly flush: boolean;
  readonly closeContext: boolean;
  readonly closeSocket: boolean;
  /** voice_settings.speed (0.7–1.2). */
  readonly speed: number | undefined;
  /** The key in the first message, where the client could not set a header. */
  readonly apiKey: string | undefined;
}

function invalid(message: string, contextId?: string): ElevenLabsError {
  return new ElevenLabsError(1008, 'invalid_message', message, contextId);
}

/** Parses one WebSocket text frame. Throws ElevenLabsError (status = close code 1008). */
export function parseElevenLabsMessage(frame: string): ElevenLabsMessage {
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    throw invalid('message is not valid JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalid('message must be a JSON object');
  const obj = value as Record<string, unknown>;
  let contextId: string | undefined;
  if (obj.context_id !== undefined && obj.context_id !== null) {
    if (typeof obj.context_id !== 'string' || obj.context_id === '' || obj.context_id.length > MAX_CONTEXT_ID) throw invalid(`context_id must be a non-empty string of at most ${MAX_CONTEXT_ID} characters`);
    contextId = obj.context_id;
  }
  if (obj.text !== undefined && obj.text !== null && typeof obj.text !== 'string') throw invalid('text must be a string', contextId);
  const text = typeof obj.text === 'string' ? obj.text : undefined;
  const closeContext = obj.close_context === true;
  const closeSocket = obj.close_socket === true;
  const flush = obj.flush === true;
  if (text === undefined && !flush && !closeContext && !closeSocket) throw invalid('message needs text, flush, close_context or close_socket', contextId);
  let speed: number | undefined;
  const settings = obj.voice_settings;
  if (settings && typeof settings === 'object' && !Array.isArray(settings)) {
    const s = (settings as Record<string, unknown>).speed;
    if (s !== undefined && s !== null) {
      if (typeof s !== 'number' || !(s >= 0.7 && s <= 1.2)) throw invalid('voice_settings.speed must be a number from 0.7 to 1.2', contextId);
      speed = s;
    }
  }
  const key = obj.xi_api_key ?? obj['xi-api-key'] ?? obj.authorization;
  return { text, contextId, flush, closeContext, closeSocket, speed, apiKey: typeof key === 'string' ? key : undefined };
}

/** The body of `POST /v1/text-to-speech/{voice_id}/stream`. */
export interface ElevenLabsSpeechRequest {
  readonly text: string;
  readonly modelId: string | undefined;
  readonly languageCode: string | undefined;
  readonly speed: number | undefined;
}

export function parseSpeechBody(body: Buffer | null, maxChars: number): ElevenLabsSpeechRequest {
  let value: unknown;
  try {
    value = JSON.parse(body?.toString('utf8') ?? '');
  } catch {
    throw new ElevenLabsError(400, 'invalid_json', 'the body must be JSON: {"text": …, "model_id": …}');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ElevenLabsError(400, 'invalid_json', 'the body must be a JSON object');
  const obj = value as Record<string, unknown>;
  if (typeof obj.text !== 'string' || obj.text.trim() === '') throw new ElevenLabsError(422, 'invalid_parameters', 'text must be a non-empty string');
  if (obj.text.length > maxChars) throw new ElevenLabsError(422, 'text_too_long', `text may be at most ${maxChars} characters`);
  const settings = obj.voice_settings as Record<string, unknown> | undefined;
  const speed = settings && typeof settings === 'object' && typeof settings.speed === 'number' ? settings.speed : undefined;
  if (speed !== undefined && !(speed >= 0.7 && speed <= 1.2)) throw new ElevenLabsError(422, 'invalid_parameters', 'voice_settings.speed must be from 0.7 to 1.2');
  return {
    text: obj.text,
    modelId: typeof obj.model_id === 'string' ? obj.model_id : undefined,
    languageCode: typeof obj.language_code === 'string' && obj.language_code.length <= 20 ? obj.language_code : undefined,
    speed,
  };
}

/** The key where ElevenLabs clients put it: `xi-api-key` header, or `authorization` (header or query). */
export function elevenLabsKeyOf(headers: Readonly<Record<string, string>>, query: URLSearchParams): string | undefined {
  const key = headers['xi-api-key'];
  if (key) return key;
  const auth = headers.authorization ?? query.get('authorization') ?? undefined;
  if (auth === undefined) return undefined;
  return auth.toLowerCase().startsWith('bearer ') ? auth.slice(7).trim() : auth;
}

// Server → client. Built as strings: audio messages go out every few ms.

/** The tail of every message of one context: `}` (single-context / default) or `,"contextId":"…"}`. */
export function contextSuffix(contextId: string | undefined): string {
  return contextId === undefined ? '}' : `,"contextId":${JSON.stringify(contextId)}}`;
}

export function audioMessage(base64: string, alignment: CharAlignment | null, suffix: string): string {
  if (!alignment) return `{"audio":"${base64}"${suffix}`;
  const json = JSON.stringify(alignment);
  return `{"audio":"${base64}","alignment":${json},"normalizedAlignment":${json}${suffix}`;
}

export function finalMessage(suffix: string): string {
  return `{"isFinal":true${suffix}`;
}

/** A WebSocket error: `{message, error, code}` (code = the close code when fatal), plus contextId. */
export function wsErrorMessage(err: ElevenLabsError): string {
  return JSON.stringify({ message: err.message, error: err.wireCode, code: err.status, ...(err.contextId === undefined ? {} : { contextId: err.contextId }) });
}

/** A REST error: `{"detail":{"status":…,"message":…}}`. */
export function httpErrorBody(err: ElevenLabsError): string {
  return JSON.stringify({ detail: { status: err.wireCode, message: err.message } });
}

/** voicegate's wire codes (NativeProtocolErrorCode in src/errors.ts) in ElevenLabs' terms; any other code is a 500. */
const STATUS_OF: Readonly<Partial<Record<NativeProtocolErrorCode, number>>> = {
  invalid_json: 400,
  invalid_message: 400,
  message_too_large: 413,
  unsupported_format: 400,
  unknown_voice: 404,
  turn_too_long: 422,
  unauthorized: 401,
  no_capacity: 429,
  at_capacity: 429,
  fleet_saturated: 429,
  overloaded: 503,
  shutting_down: 503,
  client_too_slow: 400,
  synthesis_failed: 500,
};
const VOICE_NOT_FOUND = 'voice_not_found';

export function fromVoicegateError(code: NativeProtocolErrorCode, message: string, contextId?: string): ElevenLabsError {
  return new ElevenLabsError(STATUS_OF[code] ?? 500, code === 'unknown_voice' ? VOICE_NOT_FOUND : code, message, contextId);
}
