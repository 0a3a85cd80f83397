/**
 * Cartesia's TTS wire protocol (PROTOCOLS.md §1, §8; read from @cartesia/cartesia-js 4.x and
 * the Pipecat and LiveKit clients), both directions, for the three parts of voicegate that
 * speak it: the drop-in front end (server/cartesia-routes.ts) and the fake Cartesia
 * (sim/cartesia.ts) parse generation requests and cancels and build the replies every official
 * client validates; the Cartesia backend (backends/cartesia/) builds requests and parses those
 * replies. One owner per message shape, so the fake cannot drift from what the backend sends.
 *
 * Parsing is hand-written, like stream.ts: per-token messages on every call, and a refusal
 * must say which field is wrong. Fields voicegate has no use for (pronunciation_dict_id,
 * emotion, volume, use_normalized_timestamps, add_phoneme_timestamps) are accepted and ignored.
 */
import { ENCODINGS, SAMPLE_RATES, type Encoding, type SampleRate } from '../audio/format.ts';
import { VoicegateError, type NativeProtocolErrorCode } from '../errors.ts';
import type { RequestInfo } from '../server/engine.ts';

/** What a WebSocket upgrade or HTTP request carries of the handshake (a RequestInfo is one). */
export type CartesiaHandshake = Pick<RequestInfo, 'query'> & { readonly headers: Readonly<Record<string, string | undefined>> };

/** Version assumed when the client names none: Pipecat's, the newest a framework client sends (PROTOCOLS.md §8). */
export const DEFAULT_CARTESIA_VERSION = '2026-03-01';
const VERSION_SHAPE = /^\d{4}-\d{2}-\d{2}$/;
/** Longest context_id accepted (ids are UUIDs in every client). */
export const MAX_CONTEXT_ID = 200;
/** Cartesia's documented range for max_buffer_delay_ms. */
export const MAX_BUFFER_DELAY_MS = 5000;
/** Cartesia's documented default for max_buffer_delay_ms (current docs; 2.x-era docs said 0). */
export const DEFAULT_BUFFER_DELAY_MS = 3000;

/** A Cartesia error in its wire terms: the HTTP-style status, a title, and Cartesia's `error_code` (`wireCode`). */
export class CartesiaError extends VoicegateError<'cartesia_error'> {
  constructor(
    readonly status: number,
    readonly title: string,
    message: string,
    readonly wireCode: string,
    readonly contextId?: string,
  ) {
    super('cartesia_error', message);
  }
}

export type Container = 'raw' | 'wav' | 'mp3';

export interface CartesiaFormat {
  readonly container: Container;
  readonly encoding: Encoding;
  readonly sampleRate: SampleRate;
}

/** A generation request on the WebSocket (or the body of /tts/bytes and /tts/sse). */
export interface CartesiaGeneration {
  readonly kind: 'generate';
  /** Absent on /tts/bytes and on one-shot WebSocket requests (the server makes one up); optional on /tts/sse. */
  readonly contextId: string | undefined;
  readonly transcript: string;
  /** `continue`: more input follows on this context. */
  readonly more: boolean;
  readonly flush: boolean;
  readonly modelId: string | undefined;
  /** undefined when the message has no voice (continuations may omit it). */
  readonly voiceId: string | undefined;
  /** undefined when the message has no output_format (continuations may omit it). */
  readonly format: CartesiaFormat | undefined;
  readonly language: string | undefined;
  readonly addTimestamps: boolean;
  readonly maxBufferDelayMs: number | undefined;
  /** generation_config.speed (sonic-3), or the deprecated "slow" | "normal" | "fast". */
  readonly speed: number | undefined;
}

export interface CartesiaCancel {
  readonly kind: 'cancel';
  readonly contextId: string;
}

export type CartesiaClientMessage = CartesiaGeneration | CartesiaCancel;

const SPEED_WORDS: Readonly<Record<string, number>> = { slowest: 0.6, slow: 0.8, normal: 1, fast: 1.2, fastest: 1.5 };

function invalid(message: string, contextId?: string): CartesiaError {
  return new CartesiaError(400, 'Invalid request', message, 'invalid_request', contextId);
}

/** The voice id of `{mode:"id", id}`, `{id}` (2026-08-14) or a plain id string. */
export function voiceIdOf(voice: unknown): string | undefined {
  if (typeof voice === 'string' && voice !== '') return voice;
  if (voice && typeof voice === 'object') {
    const v = voice as { mode?: unknown; id?: unknown };
    if (typeof v.id === 'string' && v.id !== '' && (v.mode === undefined || v.mode === 'id')) return v.id;
  }
  return undefined;
}

/** `output_format`, checked against the containers this endpoint offers. */
export function parseOutputFormat(value: unknown, containers: readonly Container[], contextId?: string): CartesiaFormat {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalid('output_format must be an object {container, encoding, sample_rate}', contextId);
  const f = value as Record<string, unknown>;
  const container = (f.container ?? 'raw') as Container;
  if (!containers.includes(container)) {
    throw new CartesiaError(400, 'Invalid output format', `container ${JSON.stringify(f.container)} is not offered here; supported: ${containers.join(', ')}`, 'invalid_output_format', contextId);
  }
  if (typeof f.encoding !== 'string' || !ENCODINGS.includes(f.encoding as Encoding)) {
    throw new CartesiaError(400, 'Invalid output format', `encoding must be one of ${ENCODINGS.join(', ')}`, 'invalid_output_format', contextId);
  }
  if (typeof f.sample_rate !== 'number' || !SAMPLE_RATES.includes(f.sample_rate as SampleRate)) {
    throw new CartesiaError(400, 'Invalid output format', `sample_rate must be one of ${SAMPLE_RATES.join(', ')}`, 'invalid_output_format', contextId);
  }
  return { container, encoding: f.encoding as Encoding, sampleRate: f.sample_rate as SampleRate };
}

function parseSpeed(obj: Record<string, unknown>, contextId: string | undefined): number | undefined {
  const config = obj.generation_config;
  if (config && typeof config === 'object' && !Array.isArray(config)) {
    const speed = (config as Record<string, unknown>).speed;
    if (speed !== undefined && speed !== null) {
      if (typeof speed !== 'number' || !(speed >= 0.6 && speed <= 1.5)) throw invalid('generation_config.speed must be a number from 0.6 to 1.5', contextId);
      return speed;
    }
  }
  if (typeof obj.speed === 'string') return SPEED_WORDS[obj.speed];
  return undefined;
}

/** A generation request's fields, from a parsed JSON object (WebSocket message or HTTP body). */
export function parseGeneration(obj: Record<string, unknown>, containers: readonly Container[]): CartesiaGeneration {
  const rawId = obj.context_id;
  let contextId: string | undefined;
  if (rawId !== undefined && rawId !== null) {
    if (typeof rawId !== 'string' || rawId === '' || rawId.length > MAX_CONTEXT_ID) throw invalid(`context_id must be a non-empty string of at most ${MAX_CONTEXT_ID} characters`);
    contextId = rawId;
  }
  if (typeof obj.transcript !== 'string') throw invalid('transcript must be a string', contextId);
  const voiceId = obj.voice === undefined ? undefined : voiceIdOf(obj.voice);
  if (obj.voice !== undefined && voiceId === undefined) {
    throw new CartesiaError(400, 'Invalid voice', 'voice must be {"mode":"id","id":"<voice id>"}, {"id":…} or an id string', 'invalid_voice', contextId);
  }
  const format = obj.output_format === undefined ? undefined : parseOutputFormat(obj.output_format, containers, contextId);
  let language: string | undefined;
  if (obj.language !== undefined && obj.language !== null) {
    if (typeof obj.language !== 'string' || obj.language.length > 20) throw invalid('language must be a language code such as "en"', contextId);
    language = obj.language;
  }
  let maxBufferDelayMs: number | undefined;
  if (obj.max_buffer_delay_ms !== undefined && obj.max_buffer_delay_ms !== null) {
    const v = obj.max_buffer_delay_ms;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > MAX_BUFFER_DELAY_MS) throw invalid(`max_buffer_delay_ms must be an integer from 0 to ${MAX_BUFFER_DELAY_MS}`, contextId);
    maxBufferDelayMs = v;
  }
  return {
    kind: 'generate',
    contextId,
    transcript: obj.transcript,
    more: obj.continue === true,
    flush: obj.flush === true,
    modelId: typeof obj.model_id === 'string' ? obj.model_id : undefined,
    voiceId,
    format,
    language,
    addTimestamps: obj.add_timestamps === true,
    maxBufferDelayMs,
    speed: parseSpeed(obj, contextId),
  };
}

/** One WebSocket text frame as a JSON object. Throws CartesiaError when it is not one. */
export function parseJsonObject(frame: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    throw invalid('message is not valid JSON');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalid('message must be a JSON object');
  return value as Record<string, unknown>;
}

/** A client message (generation or cancel) from a parsed WebSocket frame. Throws CartesiaError (with the context id when known). */
export function parseClientMessage(obj: Record<string, unknown>): CartesiaClientMessage {
  if (obj.cancel === true) {
    if (typeof obj.context_id !== 'string' || obj.context_id === '' || obj.context_id.length > MAX_CONTEXT_ID) throw invalid('cancel needs the context_id to cancel');
    return { kind: 'cancel', contextId: obj.context_id };
  }
  return parseGeneration(obj, ['raw']);
}

/** Parses one WebSocket text frame. Throws CartesiaError (with the context id when known). */
export function parseCartesiaMessage(frame: string): CartesiaClientMessage {
  return parseClientMessage(parseJsonObject(frame));
}

/** The API version the client asked for: `cartesia_version` query (wins) or `Cartesia-Version` header. */
export function cartesiaVersionOf(req: CartesiaHandshake): string {
  const version = req.query.get('cartesia_version') ?? req.headers['cartesia-version'];
  if (version === undefined || version === '') return DEFAULT_CARTESIA_VERSION;
  if (!VERSION_SHAPE.test(version)) throw invalid(`Cartesia-Version must be a date such as ${DEFAULT_CARTESIA_VERSION}`);
  return version;
}

/** The key where Cartesia clients put it: `X-API-Key`, `Authorization: Bearer`, `?api_key=` or `?access_token=`. */
export function cartesiaKeyOf(req: CartesiaHandshake): string | undefined {
  const header = req.headers['x-api-key'];
  if (header) return header;
  const auth = req.headers.authorization;
  if (auth && auth.toLowerCase().startsWith('bearer ')) return auth.slice(7).trim();
  return req.query.get('api_key') ?? req.query.get('access_token') ?? undefined;
}

// Replies. Each carries type, done, status_code and context_id (the official clients route and
// validate on them); chunks also step_time. Built as strings: chunks go out every few ms.

/** The part of every reply of one context after its own fields: `,"context_id":"…"}`. */
export function contextSuffix(contextId: string): string {
  return `,"context_id":${JSON.stringify(contextId)}}`;
}

export function chunkReply(base64: string, stepTimeMs: number, flushId: number, suffix: string): string {
  return `{"type":"chunk","data":"${base64}","done":false,"status_code":206,"step_time":${stepTimeMs},"flush_id":${flushId}${suffix}`;
}

export interface WordTimestamps {
  readonly words: readonly string[];
  /** Seconds from the start of the context's audio. */
  readonly start: readonly number[];
  readonly end: readonly number[];
}

export function timestampsReply(timestamps: WordTimestamps, flushId: number, suffix: string): string {
  return `{"type":"timestamps","done":false,"status_code":206,"flush_id":${flushId},"word_timestamps":${JSON.stringify(timestamps)}${suffix}`;
}

export function flushDoneReply(flushId: number, suffix: string): string {
  return `{"type":"flush_done","done":false,"flush_done":true,"flush_id":${flushId},"status_code":206${suffix}`;
}

export function doneReply(suffix: string): string {
  return `{"type":"done","done":true,"status_code":206${suffix}`;
}

/**
 * Which error shape to write: `current` (title, message, error_code, request_id: 2026-03-01
 * docs, current SDKs), `legacy` (an `error` string: 2024-11-13), or `both` at once, so clients
 * of either era read it (what the drop-in sends; the fake sends one, to test each reader).
 */
export type CartesiaErrorShape = 'current' | 'legacy' | 'both';

/** An error reply, in `shape` (default both). */
export function errorReply(err: CartesiaError, done = true, requestId?: string, shape: CartesiaErrorShape = 'both'): string {
  const current = shape !== 'legacy';
  return JSON.stringify({
    type: 'error',
    done,
    status_code: err.status,
    ...(current ? { title: err.title, message: err.message } : {}),
    ...(shape !== 'current' ? { error: err.message } : {}),
    ...(current ? { error_code: err.wireCode } : {}),
    ...(requestId === undefined || !current ? {} : { request_id: requestId }),
    ...(err.contextId === undefined ? {} : { context_id: err.contextId }),
  });
}

/** The body of an HTTP error (/tts/bytes, /tts/sse before the stream started). */
export function httpErrorBody(err: CartesiaError, requestId: string): string {
  return JSON.stringify({ title: err.title, message: err.message, error: err.message, error_code: err.wireCode, status_code: err.status, request_id: requestId });
}

/** One SSE event of /tts/sse: the reply JSON as `data:`, its type as the event name. */
export function sseEvent(type: string, json: string): string {
  return `event: ${type}\ndata: ${json}\n\n`;
}

/** voicegate's own error codes (src/errors.ts: the native protocol's, the session's) in Cartesia's terms. */
const STATUS_OF: Readonly<Partial<Record<NativeProtocolErrorCode, readonly [number, string]>>> = {
  invalid_json: [400, 'Invalid request'],
  invalid_message: [400, 'Invalid request'],
  message_too_large: [413, 'Message too large'],
  unsupported_format: [400, 'Invalid output format'],
  unknown_voice: [400, 'Invalid voice'],
  turn_too_long: [400, 'Transcript too long'],
  unauthorized: [401, 'Unauthorized'],
  no_capacity: [429, 'Too Many Requests'],
  at_capacity: [429, 'Too Many Requests'],
  fleet_saturated: [429, 'Too Many Requests'],
  overloaded: [503, 'Service Unavailable'],
  shutting_down: [503, 'Service Unavailable'],
  client_too_slow: [400, 'Client too slow'],
  synthesis_failed: [500, 'Synthesis failed'],
};

/** A voicegate error (any code, including ones added later) as a CartesiaError. */
export function fromVoicegateError(code: NativeProtocolErrorCode, message: string, contextId?: string): CartesiaError {
  const [status, title] = STATUS_OF[code] ?? [500, 'Internal error'];
  return new CartesiaError(status, title, message, code, contextId);
}

// The client side: what voicegate's Cartesia backend sends, and how it reads the replies.

/** A generation request as the backend sends it (wire field names). */
export interface GenerationRequest {
  readonly model_id: string;
  readonly voice: VoiceField;
  readonly output_format: { readonly container: 'raw'; readonly encoding: Encoding; readonly sample_rate: SampleRate };
  readonly context_id: string;
  readonly transcript: string;
  /** More input follows on this context. */
  readonly continue: boolean;
  readonly language?: string;
  readonly generation_config?: { readonly speed: number };
}

export type VoiceField = { readonly id: string } | { readonly mode: 'id'; readonly id: string };

/** The first version whose voice is a plain `{id}`; earlier versions want `{mode:"id", id}`. */
export const PLAIN_VOICE_VERSION = '2026-08-14';

/** The `voice` field for a voice id in the given Cartesia-Version. */
export function voiceField(id: string, version: string): VoiceField {
  return version >= PLAIN_VOICE_VERSION ? { id } : { mode: 'id', id };
}

export function encodeGeneration(request: GenerationRequest): string {
  return JSON.stringify(request);
}

export function encodeCancel(contextId: string): string {
  return JSON.stringify({ context_id: contextId, cancel: true });
}

/**
 * A reply as it arrives, every field optional: the backend dispatches on `type` and
 * `context_id` and checks the one field it then needs, so a reply type added later passes by.
 */
export interface CartesiaReply {
  readonly type?: string;
  readonly context_id?: string;
  /** `chunk`: base64 audio. */
  readonly data?: unknown;
  readonly status_code?: number;
  readonly done?: boolean;
  readonly flush_id?: number;
  readonly step_time?: number;
  // `error`, both shapes.
  readonly title?: string;
  readonly message?: string;
  readonly error_code?: string;
  readonly error?: string;
}

/** One reply frame; undefined when it is not a JSON object. */
export function parseReply(frame: string): CartesiaReply | undefined {
  let value: unknown;
  try {
    value = JSON.parse(frame);
  } catch {
    return undefined;
  }
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as CartesiaReply) : undefined;
}

/** The words of an error reply, from either shape. */
export function replyErrorText(reply: CartesiaReply): string {
  if (typeof reply.error === 'string') return reply.error;
  const parts = [reply.title, reply.message].filter((s): s is string => typeof s === 'string' && s !== '');
  if (reply.error_code) parts.push(`(${reply.error_code})`);
  return parts.length > 0 ? parts.join(': ') : 'unknown error';
}
