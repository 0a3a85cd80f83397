/**
 * The OpenAI Audio Speech protocol (PROTOCOLS.md §2) as voicegate serves it: request parsing
 * and validation, model → pool resolution, OpenAI-shaped errors, SSE events and the list
 * shapes of /v1/models and /v1/audio/voices. Transport-free: server/speech-routes.ts binds it
 * to HTTP. Every rule here is documented for operators in docs/http-api.md.
 */
import { ENCODER_FORMATS, type EncoderFormat } from '../audio/encoders/encoder.ts';
import { VoicegateError } from '../errors.ts';
import type { SessionStartError } from '../session/errors.ts';
import { resolveVoice } from '../session/voices.ts';

/** OpenAI's limit on `input` (and `instructions`), in characters (code points). */
export const MAX_INPUT_CHARS = 4096;
export const MIN_SPEED = 0.25;
export const MAX_SPEED = 4;

/** Formats voicegate produces (src/audio/encoders); `pcm` is raw 24 kHz s16le mono, as OpenAI defines it. */
export const RESPONSE_FORMATS = ENCODER_FORMATS;
export type ResponseFormat = EncoderFormat;
/** OpenAI formats voicegate refuses with a clear 400: no maintained AAC encoder on npm (docs/http-api.md). */
export const UNSUPPORTED_FORMATS = ['aac'] as const;
/** Used when the request names no `response_format`: mp3, as OpenAI. */
export const DEFAULT_RESPONSE_FORMAT: ResponseFormat = 'mp3';
/** Sample rate of every response (OpenAI's pcm definition; every format uses it). */
export const SPEECH_SAMPLE_RATE = 24000;

export const STREAM_FORMATS = ['audio', 'sse'] as const;
export type StreamFormat = (typeof STREAM_FORMATS)[number];

/** OpenAI's own TTS model names: they map to the pool serving the voice, else the first pool. */
const OPENAI_MODEL = /^(?:tts-1(?:-hd)?|gpt-4o(?:-mini)?-tts)(?:-\d{4}-\d{2}-\d{2})?$/;

export function isOpenAIModelName(model: string): boolean {
  return OPENAI_MODEL.test(model);
}

export type OpenAIErrorType = 'invalid_request_error' | 'authentication_error' | 'not_found_error' | 'rate_limit_error' | 'server_error';

/** An error answered in OpenAI's shape `{"error":{message,type,param,code}}`. */
export class OpenAIError extends VoicegateError<'openai_error'> {
  constructor(
    readonly status: number,
    /** `error.code` on the wire: OpenAI's own codes, or voicegate's where OpenAI has none (unknown_voice, no_capacity). */
    readonly wireCode: string,
    message: string,
    readonly param: string | null = null,
    readonly type: OpenAIErrorType = defaultType(status),
  ) {
    super('openai_error', message);
  }

  /** The response body. */
  body(): string {
    return JSON.stringify({ error: { message: this.message, type: this.type, param: this.param, code: this.wireCode } });
  }
}

/**
 * A session that could not start, in OpenAI's terms: no capacity is a 503 the client may retry
 * (OpenAI's SDKs do); an unknown voice is a 400 on `voice`. The code stays voicegate's.
 */
export function fromSessionStartError(err: SessionStartError): OpenAIError {
  return err.retryable ? new OpenAIError(503, err.code, err.message) : new OpenAIError(400, err.code, err.message, err.code === 'unknown_voice' ? 'voice' : null);
}

function defaultType(status: number): OpenAIErrorType {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

/** What /v1/audio/speech and /v1/models need to know of a pool. */
export interface PoolInfo {
  readonly name: string;
  readonly model: string;
  readonly voices: readonly string[];
  /** Alias → voice (config `pools[].voice_aliases`, defaults filled in). */
  readonly voice_aliases: Readonly<Record<string, string>>;
  readonly language: string;
}

export interface SpeechRequest {
  /** The `model` as the client sent it. */
  readonly model: string;
  /** The pool chosen for it. */
  readonly pool: string;
  readonly input: string;
  /** The voice as the client named it (an alias or a pool voice; the session factory resolves it). */
  readonly voice: string | undefined;
  /** The pool voice it resolves to. */
  readonly poolVoice: string;
  readonly responseFormat: ResponseFormat;
  readonly streamFormat: StreamFormat;
  readonly speed: number;
  /** Style instructions (gpt-4o-mini-tts); see docs/http-api.md for which backends take them. */
  readonly instructions: string | undefined;
}

/**
 * Pools a `model` may name, in preference order: the pool of that name, then pools whose
 * `model` equals it; failing both, every pool for OpenAI's own names. Empty = unknown model.
 */
export function poolsForModel(pools: readonly PoolInfo[], model: string): PoolInfo[] {
  const byName = pools.filter((p) => p.name === model);
  const byModel = pools.filter((p) => p.model === model && p.name !== model);
  if (byName.length + byModel.length > 0) return [...byName, ...byModel];
  return isOpenAIModelName(model) ? [...pools] : [];
}

function invalid(param: string, message: string, code = 'invalid_value'): OpenAIError {
  return new OpenAIError(400, code, message, param);
}

/** Whether a Content-Type names JSON (absent is taken as JSON: curl-style clients omit it). */
export function isJsonContentType(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType === '') return true;
  const type = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return type === 'application/json' || (type.startsWith('application/') && type.endsWith('+json'));
}

function codePoints(text: string, stopAfter: number): number {
  // UTF-16 length bounds the code point count from above; count only when it matters.
  if (text.length <= stopAfter) return text.length;
  let n = 0;
  for (let i = 0; i < text.length && n <= stopAfter; i++, n++) {
    const unit = text.charCodeAt(i);
    // A high surrogate followed by a low one is one character.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
  }
  return n;
}

function optionalString(body: Record<string, unknown>, param: string): string | undefined {
  const value = body[param];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(param, `'${param}' must be a string`, 'invalid_type');
  return value;
}

/**
 * Parses and validates a POST /v1/audio/speech body. Throws OpenAIError (400 with `param`,
 * 404 model_not_found, 415) for anything it refuses. Unknown fields are ignored, so clients
 * written for Kokoro-FastAPI (`stream`, `lang_code`, …) work unchanged.
 */
export function parseSpeechRequest(body: Buffer | null, contentType: string | undefined, pools: readonly PoolInfo[]): SpeechRequest {
  if (!isJsonContentType(contentType)) {
    throw new OpenAIError(415, 'unsupported_media_type', `Content-Type must be application/json, not ${contentType}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(body && body.length > 0 ? body.toString('utf8') : '');
  } catch {
    throw new OpenAIError(400, 'invalid_json', 'We could not parse the JSON body of your request. Send a JSON object.');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new OpenAIError(400, 'invalid_json', 'The request body must be a JSON object.');
  }
  const req = parsed as Record<string, unknown>;

  const model = optionalString(req, 'model');
  if (model === undefined || model === '') throw invalid('model', "you must provide a model parameter ('model')", 'missing_required_parameter');

  const input = optionalString(req, 'input');
  if (input === undefined) throw invalid('input', "you must provide the text to speak ('input')", 'missing_required_parameter');
  if (input.trim().length === 0) throw invalid('input', "'input' is empty");
  if (codePoints(input, MAX_INPUT_CHARS) > MAX_INPUT_CHARS) {
    throw invalid('input', `'input' is longer than ${MAX_INPUT_CHARS} characters`, 'string_above_max_length');
  }

  const instructions = optionalString(req, 'instructions');
  if (instructions !== undefined && codePoints(instructions, MAX_INPUT_CHARS) > MAX_INPUT_CHARS) {
    throw invalid('instructions', `'instructions' is longer than ${MAX_INPUT_CHARS} characters`, 'string_above_max_length');
  }

  let voice: string | undefined;
  const rawVoice = req.voice;
  if (typeof rawVoice === 'string') voice = rawVoice;
  else if (rawVoice && typeof rawVoice === 'object' && !Array.isArray(rawVoice) && typeof (rawVoice as { id?: unknown }).id === 'string') {
    voice = (rawVoice as { id: string }).id;
  } else if (rawVoice !== undefined && rawVoice !== null) {
    throw invalid('voice', "'voice' must be a voice name or an object { \"id\": \"<voice>\" }", 'invalid_type');
  }
  if (voice === '') throw invalid('voice', "'voice' is empty");

  const format = optionalString(req, 'response_format') ?? DEFAULT_RESPONSE_FORMAT;
  if (!(RESPONSE_FORMATS as readonly string[]).includes(format)) {
    const known = (UNSUPPORTED_FORMATS as readonly string[]).includes(format);
    throw invalid(
      'response_format',
      known
        ? `response_format '${format}' is not supported by this server; supported: ${RESPONSE_FORMATS.join(', ')}`
        : `'${format}' is not a valid response_format; supported: ${RESPONSE_FORMATS.join(', ')}`,
      known ? 'unsupported_response_format' : 'invalid_value',
    );
  }

  const streamFormat = optionalString(req, 'stream_format') ?? 'audio';
  if (!(STREAM_FORMATS as readonly string[]).includes(streamFormat)) {
    throw invalid('stream_format', `'${streamFormat}' is not a valid stream_format; expected audio or sse`);
  }

  let speed = 1;
  if (req.speed !== undefined && req.speed !== null) {
    if (typeof req.speed !== 'number' || !Number.isFinite(req.speed)) throw invalid('speed', "'speed' must be a number", 'invalid_type');
    if (req.speed < MIN_SPEED || req.speed > MAX_SPEED) throw invalid('speed', `'speed' must be between ${MIN_SPEED} and ${MAX_SPEED}`);
    speed = req.speed;
  }

  const candidates = poolsForModel(pools, model);
  if (candidates.length === 0) {
    throw new OpenAIError(404, 'model_not_found', `The model '${model}' does not exist; GET /v1/models lists the models served here.`, 'model');
  }
  const named = voice;
  const pool =
    (named === undefined ? undefined : (candidates.find((p) => p.voices.includes(named)) ?? candidates.find((p) => resolveVoice(p, named) !== null))) ??
    candidates[0]!;
  const poolVoice = resolveVoice(pool, voice);
  if (poolVoice === null) {
    const available = [...new Set(candidates.flatMap((p) => [...p.voices, ...Object.keys(p.voice_aliases)]))];
    throw invalid('voice', `voice '${voice}' is not available for model '${model}'; available: ${available.join(', ')}`, 'unknown_voice');
  }

  return {
    model,
    pool: pool.name,
    input,
    voice,
    poolVoice,
    responseFormat: format as ResponseFormat,
    streamFormat: streamFormat as StreamFormat,
    speed,
    instructions,
  };
}

/** Rough token estimate (OpenAI's rule of thumb: ~4 characters a token) for SSE usage. */
export function estimateTokens(characters: number): number {
  return Math.ceil(characters / 4);
}

const DELTA_PREFIX = 'data: {"type":"speech.audio.delta","audio":"';
const DELTA_SUFFIX = '"}\n\n';

/** One SSE event carrying audio; base64 needs no JSON escaping. */
export function sseAudioDelta(audio: Uint8Array): string {
  return DELTA_PREFIX + Buffer.from(audio.buffer, audio.byteOffset, audio.byteLength).toString('base64') + DELTA_SUFFIX;
}

export interface SpeechUsage {
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly total_tokens: number;
}

/**
 * The final SSE event. Tokens are estimates (voicegate's backends count none): input from
 * characters, output from audio at OpenAI's ~50 audio tokens a second. Exact figures travel
 * beside them as `input_characters` and `audio_ms`.
 */
export function sseAudioDone(characters: number, audioMs: number): string {
  const input = estimateTokens(characters);
  const output = Math.ceil(audioMs / 20);
  const usage: SpeechUsage & { input_characters: number; audio_ms: number } = {
    input_tokens: input,
    output_tokens: output,
    total_tokens: input + output,
    input_characters: characters,
    audio_ms: Math.round(audioMs),
  };
  return `data: ${JSON.stringify({ type: 'speech.audio.done', usage })}\n\n`;
}

export interface ModelObject {
  readonly id: string;
  readonly object: 'model';
  readonly created: number;
  readonly owned_by: string;
}

/** One entry per distinct pool model, in pool order. */
export function listModels(pools: readonly PoolInfo[], created: number): { object: 'list'; data: ModelObject[] } {
  const ids = [...new Set(pools.map((p) => p.model))];
  return { object: 'list', data: ids.map((id) => ({ id, object: 'model', created, owned_by: 'voicegate' })) };
}

export interface VoiceObject {
  readonly id: string;
  readonly object: 'voice';
  readonly name: string;
  readonly model: string;
  readonly pool: string;
  readonly language: string;
  /** For an alias (an OpenAI voice name, or one configured): the pool voice it speaks with. */
  readonly alias_of?: string;
}

/**
 * Voices per pool (`model` filter as in speech requests; 404 for an unknown model): the pool's
 * own voices, then its aliases with the voice each maps to. `data` is the list shape; `voices`
 * repeats ids and names for Kokoro-FastAPI-style clients.
 */
export function listVoices(pools: readonly PoolInfo[], model: string | null): { object: 'list'; data: VoiceObject[]; voices: { id: string; name: string }[] } {
  let chosen: readonly PoolInfo[] = pools;
  if (model !== null && model !== '') {
    chosen = poolsForModel(pools, model);
    if (chosen.length === 0) throw new OpenAIError(404, 'model_not_found', `The model '${model}' does not exist; GET /v1/models lists the models served here.`, 'model');
  }
  const data: VoiceObject[] = [];
  for (const pool of chosen) {
    const base = { object: 'voice', model: pool.model, pool: pool.name, language: pool.language } as const;
    for (const id of pool.voices) data.push({ id, name: id, ...base });
    for (const [id, target] of Object.entries(pool.voice_aliases)) {
      if (!pool.voices.includes(id)) data.push({ id, name: id, ...base, alias_of: target });
    }
  }
  return { object: 'list', data, voices: data.map((v) => ({ id: v.id, name: v.name })) };
}
