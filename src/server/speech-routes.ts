/**
 * The OpenAI-compatible HTTP API (docs/http-api.md):
 *   POST /v1/audio/speech     text → audio, streamed as it is produced (chunked body or SSE)
 *   GET  /v1/models           one entry per pool model;  GET /v1/models/{id}
 *   GET  /v1/audio/voices     voices per model (?model= filter)
 *   OPTIONS on each of them   CORS preflight (http.cors_origins)
 *
 * A speech request is a one-turn Session from the same factory as /v1/stream, so routing,
 * pinning, lookahead, failover and the fallback behave as for calls (in a full pool it waits in
 * the wait queue's `http` class). Every response carries `x-request-id`; every route but the
 * preflight asks for the API key.
 */
import { createEncoder } from '../audio/encoders/index.ts';
import { instructionsPassed } from '../backends/index.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import {
  OpenAIError,
  fromSessionStartError,
  SPEECH_SAMPLE_RATE,
  listModels,
  listVoices,
  parseSpeechRequest,
  sseAudioDelta,
  sseAudioDone,
  type PoolInfo,
  type SpeechRequest,
} from '../protocol/openai.ts';
import { SESSION_ID_MAX } from '../protocol/stream.ts';
import { SessionStartError } from '../session/errors.ts';
import type { SessionFactory } from '../session/factory.ts';
import type { Session, SessionSink } from '../session/session.ts';
import { countRejection, type Admission } from './admission.ts';
import type { Authorizer } from './auth.ts';
import { createCors, type Cors } from './cors.ts';
import type { HttpResponse, HttpRoute, RequestInfo } from './engine.ts';
import { requestIdOf } from './routes.ts';

export const SPEECH_PATH = '/v1/audio/speech';
export const MODELS_PATH = '/v1/models';
export const VOICES_PATH = '/v1/audio/voices';

export interface SpeechRouteOptions {
  readonly sessions: SessionFactory;
  readonly config: Pick<Config, 'pools' | 'http'>;
  readonly authorize: Authorizer;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Whether one more session may start (drain, server.max_sessions, lag). Default: always. */
  readonly admission?: Admission;
  /** `created` of every model object, unix seconds. Default: when the routes were built. */
  readonly createdAt?: number;
  /** Adds the voice library's entries to the voice listing (src/voices/listing.ts). Default none. */
  readonly listVoices?: (listing: ReturnType<typeof listVoices>) => ReturnType<typeof listVoices>;
}

/** Reported by the sink while the response is blocked, so the session holds audio back. */
const BLOCKED = Number.MAX_SAFE_INTEGER;

function sendJson(res: HttpResponse, status: number, head: Record<string, string>, body: string): void {
  res.writeHead(status, { ...head, 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(body);
}

/** An error in OpenAI's shape; a 503 (refusal, no capacity, failed synthesis) says when to retry. */
function sendError(res: HttpResponse, head: Record<string, string>, err: OpenAIError, extra?: Record<string, string>): void {
  if (err.status === 503) extra = { ...extra, 'retry-after': '1' };
  sendJson(res, err.status, extra ? { ...head, ...extra } : head, err.body());
}

const UNAUTHORIZED = new OpenAIError(401, 'invalid_api_key', 'Missing or invalid API key. Send it as Authorization: Bearer <key>.', null, 'authentication_error');

type Handler = (req: RequestInfo, res: HttpResponse, head: Record<string, string>, body: Buffer | null) => void;

export function speechRoutes(options: SpeechRouteOptions): HttpRoute[] {
  const { config, logger } = options;
  const pools: PoolInfo[] = config.pools.map((p) => ({ name: p.name, model: p.model, voices: p.voices, voice_aliases: p.voice_aliases, language: p.language }));
  const created = options.createdAt ?? Math.floor(Date.now() / 1000);
  /** `x-voicegate-instructions` per pool: whether its backend passes instructions on. */
  const instructionsHeader = new Map(config.pools.map((p) => [p.name, instructionsPassed(p) ? 'passed' : 'ignored'] as const));
  // A browser script may read every header this API answers with (docs/http-api.md).
  const cors: Cors = createCors({ origins: config.http.cors_origins, exposeHeaders: 'x-request-id, x-voicegate-pool, x-voicegate-instance, x-voicegate-voice, x-voicegate-instructions' });

  /** Request id, CORS and the key check, common to every API route. */
  const api =
    (handler: Handler) =>
    (req: RequestInfo, res: HttpResponse, body: Buffer | null): void => {
      const head = { 'x-request-id': requestIdOf(req), ...cors.headers(req) };
      if (!options.authorize(req)) return sendError(res, head, UNAUTHORIZED, { 'www-authenticate': 'Bearer' });
      try {
        handler(req, res, head, body);
      } catch (err) {
        if (!(err instanceof OpenAIError)) throw err;
        sendError(res, head, err);
      }
    };

  const preflight = (req: RequestInfo, res: HttpResponse): void => {
    // No key on preflights: browsers never send credentials with them.
    res.writeHead(204, { 'x-request-id': requestIdOf(req), allow: 'GET, POST, OPTIONS', ...cors.preflight(req) });
    res.end();
  };

  const models = api((_req, res, head) => sendJson(res, 200, head, JSON.stringify(listModels(pools, created))));

  const model = api((req, res, head) => {
    let id = '';
    try {
      id = decodeURIComponent(req.path.slice(MODELS_PATH.length + 1));
    } catch {
      id = '';
    }
    const found = listModels(pools, created).data.find((m) => m.id === id);
    if (!found) throw new OpenAIError(404, 'model_not_found', `The model '${id}' does not exist.`, 'model');
    sendJson(res, 200, head, JSON.stringify(found));
  });

  const voices = api((req, res, head) => {
    const listing = listVoices(pools, req.query.get('model'));
    sendJson(res, 200, head, JSON.stringify(options.listVoices ? options.listVoices(listing) : listing));
  });

  const speech = api((req, res, head, body) => {
    const request = parseSpeechRequest(body, req.headers['content-type'], pools);
    const refusal = options.admission?.check();
    if (refusal) {
      countRejection(options.metrics, refusal.code);
      throw new OpenAIError(503, refusal.code, refusal.message);
    }
    const sessionKey = req.headers['x-session-id'];
    // Style instructions: passed on where the pool's backend takes them, and the response says which.
    if (request.instructions) head['x-voicegate-instructions'] = instructionsHeader.get(request.pool) ?? 'ignored';
    runSpeech(options, request, res, head, sessionKey && sessionKey.length <= SESSION_ID_MAX ? sessionKey : head['x-request-id']);
  });

  const paths = [SPEECH_PATH, MODELS_PATH, `${MODELS_PATH}/*`, VOICES_PATH];
  logger.debug({ paths }, 'OpenAI-compatible routes');
  return [
    { method: 'POST', path: SPEECH_PATH, body: true, handler: speech },
    { method: 'GET', path: MODELS_PATH, handler: models },
    { method: 'GET', path: `${MODELS_PATH}/*`, handler: model },
    { method: 'GET', path: VOICES_PATH, handler: voices },
    ...paths.map((path): HttpRoute => ({ method: 'OPTIONS', path, handler: preflight })),
  ];
}

/** Samples per encode call before the first bytes are sent (48 ms at 24 kHz: one MPEG-1 frame, two MPEG-2 ones). */
const FIRST_PIECE = 1152;

/** The s16le bytes of a session frame as samples (a view when aligned, else a copy). */
function samplesOf(frame: Uint8Array): Int16Array {
  if (frame.byteOffset % 2 === 0) return new Int16Array(frame.buffer, frame.byteOffset, frame.byteLength >> 1);
  const copy = new Int16Array(frame.byteLength >> 1);
  new Uint8Array(copy.buffer).set(frame.subarray(0, copy.length * 2));
  return copy;
}

/** Drives one speech request: a one-turn session whose sink is the HTTP response. */
function runSpeech(options: SpeechRouteOptions, request: SpeechRequest, res: HttpResponse, head: Record<string, string>, key: string): void {
  const { metrics, logger } = options;
  const requestId = head['x-request-id']!;
  const sse = request.streamFormat === 'sse';
  const startedAt = performance.now();
  let session: Session | null = null;
  let headSent = false;
  let finished = false;
  let blocked = false;
  let audioBytes = 0;
  let audioMs = 0;
  let failedSegments = 0;
  let firstByteMs = -1;
  let instance = '';
  // pcm leaves as the session's s16le frames; every other format goes through its encoder.
  const encoder = request.responseFormat === 'pcm' ? null : createEncoder(request.responseFormat, { sampleRate: SPEECH_SAMPLE_RATE });
  const contentType = encoder?.contentType ?? 'audio/pcm';

  const finish = (outcome: 'ok' | 'client_error', status: number): void => {
    if (finished) return;
    finished = true;
    encoder?.close();
    session?.close();
    metrics.sessionsActive.dec();
    metrics.sessionsTotal.inc({ outcome });
    logger.info(
      {
        request_id: requestId,
        pool: request.pool,
        instance,
        model: request.model,
        voice: request.voice,
        pool_voice: request.poolVoice,
        format: request.responseFormat,
        stream_format: request.streamFormat,
        characters: request.input.length,
        status,
        outcome,
        failed_segments: failedSegments,
        audio_seconds: Math.round(audioMs) / 1000,
        ttfb_ms: firstByteMs < 0 ? null : Math.round(firstByteMs),
        duration_ms: Math.round(performance.now() - startedAt),
      },
      'speech request',
    );
  };

  const onDrain = (): void => {
    blocked = false;
    session?.drained();
  };

  const write = (chunk: Uint8Array | string): void => {
    if (!res.write(chunk) && !blocked) {
      blocked = true;
      res.onDrain(onDrain);
    }
  };

  const sendHead = (): void => {
    headSent = true;
    res.writeHead(200, {
      ...head,
      'content-type': sse ? 'text/event-stream' : contentType,
      'cache-control': 'no-store',
      // Proxies (nginx) must pass audio through as it comes.
      'x-accel-buffering': 'no',
      'x-voicegate-pool': request.pool,
      'x-voicegate-instance': instance,
      'x-voicegate-voice': request.poolVoice,
    });
  };

  /** Sends encoded bytes (the head first); empty output (a frame still filling) sends nothing. */
  const send = (bytes: Uint8Array): void => {
    if (bytes.length === 0) return;
    if (!headSent) {
      firstByteMs = performance.now() - startedAt;
      sendHead();
    }
    write(sse ? sseAudioDelta(bytes) : bytes);
  };

  /** Answers an error in place of audio (only possible before the head was sent). */
  const refuse = (err: OpenAIError): void => {
    session?.cancel();
    sendError(res, head, err);
    finish('ok', err.status);
  };

  const sink: SessionSink = {
    segment() {},
    audio(frame) {
      if (finished) return;
      audioBytes += frame.byteLength;
      if (encoder === null) return send(frame);
      let samples = samplesOf(frame);
      // Until the first bytes are out, encode in small pieces and send each as it completes:
      // the first mp3 frames leave without waiting for the whole (often 200 ms) chunk.
      while (!headSent && samples.length > FIRST_PIECE) {
        send(encoder.encode(samples.subarray(0, FIRST_PIECE)));
        samples = samples.subarray(FIRST_PIECE);
      }
      send(encoder.encode(samples));
    },
    segmentEnd(_index, ms) {
      audioMs += ms;
    },
    failover() {},
    waiting() {},
    draining() {},
    tooSlow(message) {
      // The HTTP client stopped reading: the response is cut off and the session's slots freed.
      logger.warn({ request_id: requestId, audio_bytes: audioBytes }, `speech client too slow: ${message}`);
      res.destroy();
      finish('client_error', 499);
    },
    turnEnd() {
      if (finished) return;
      const tail = encoder?.end();
      if (tail) send(tail);
      // Nothing to say after normalization (e.g. only emoji): an empty, valid stream.
      if (!headSent) sendHead();
      if (sse) write(sseAudioDone(request.input.length, audioMs));
      res.end();
      finish('ok', 200);
    },
    cancelled() {},
    mark() {},
    error(code, message) {
      if (finished) return;
      failedSegments++;
      if (!headSent) {
        if (code === 'turn_too_long') refuse(new OpenAIError(400, 'string_above_max_length', message, 'input'));
        else if (code === 'fleet_saturated') refuse(new OpenAIError(503, 'fleet_saturated', `Speech could not be synthesized: ${message}`));
        else refuse(new OpenAIError(503, 'synthesis_failed', `Speech could not be synthesized: ${message}`));
        return;
      }
      // Audio already left with a 200: a response missing a sentence must not look whole, so
      // the connection is cut (the client sees a truncated body, never a short 200).
      logger.warn({ request_id: requestId, code, audio_bytes: audioBytes }, 'speech segment failed mid-response; response cut off');
      session?.cancel();
      res.destroy();
      finish('client_error', 502);
    },
    bufferedAmount: () => (blocked ? BLOCKED : 0),
    // An HTTP body has one write per chunk: nothing to coalesce.
    cork: (fn) => fn(),
  };

  try {
    session = options.sessions.create({
      id: requestId,
      key,
      voice: request.poolVoice,
      pool: request.pool,
      speed: request.speed,
      instructions: request.instructions || undefined,
      format: { encoding: 'pcm_s16le', sampleRate: SPEECH_SAMPLE_RATE, frameMs: 0 },
      sink,
      // The whole text is known: cut at sentences, no hurried first clause.
      eagerFirst: false,
      // In a full pool: wait class `http`, last among waiters whose audio is about to run out.
      http: true,
    });
  } catch (err) {
    if (!(err instanceof SessionStartError)) throw err;
    if (err.retryable) {
      countRejection(metrics, err.code);
      sendError(res, head, fromSessionStartError(err));
      return;
    }
    throw fromSessionStartError(err);
  }
  instance = session.pinId;
  metrics.sessionsActive.inc();
  res.onAborted(() => {
    // The client left: abort in-flight synthesis so the GPU slots free at once.
    session?.cancel();
    finish('client_error', 499);
  });
  session.text(request.input);
  session.flush();
}
