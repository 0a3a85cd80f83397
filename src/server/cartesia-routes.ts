/**
 * The Cartesia drop-in (docs/compat.md): `GET /tts/websocket`, `POST /tts/bytes`,
 * `POST /tts/sse`, speaking protocol/cartesia.ts over the same Session core as /v1/stream.
 *
 * WebSocket: contexts are multiplexed on one socket, one Session per context_id. Every context
 * of a socket pins by the same key (`?session_id=` or `X-Session-Id`, else the connection), so
 * a call's turns stay on one GPU. A context's messages map onto the session:
 *   transcript            → session.text
 *   flush:true            → session.flush, answered by flush_done once its audio is out
 *   continue:false        → session.flush, answered by done; the context then ends
 *   cancel:true           → session.cancel + close (the GPU requests are aborted); no reply
 * Buffering: with max_buffer_delay_ms 0, or text ending a sentence, what came is spoken at
 * once (a "silent" flush nobody is told about); otherwise the segmenter cuts and a timer of
 * max_buffer_delay_ms speaks the rest, as Cartesia's managed buffering does.
 */
import { randomUUID } from 'node:crypto';
import { wavHeader } from '../audio/wav.ts';
import type { CompatProtocolConfig, PoolConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import {
  CartesiaError,
  DEFAULT_BUFFER_DELAY_MS,
  cartesiaKeyOf,
  cartesiaVersionOf,
  chunkReply,
  contextSuffix,
  doneReply,
  errorReply,
  flushDoneReply,
  fromVoicegateError,
  httpErrorBody,
  parseCartesiaMessage,
  parseGeneration,
  sseEvent,
  timestampsReply,
  type CartesiaGeneration,
} from '../protocol/cartesia.ts';
import { estimateWordTimestamps } from '../protocol/timestamps.ts';
import { createVoiceResolver, type VoiceResolver } from '../protocol/voice-map.ts';
import { CLOSE_CODES, SESSION_ID_MAX } from '../protocol/stream.ts';
import { SessionStartError } from '../session/errors.ts';
import type { SessionFactory } from '../session/factory.ts';
import type { Session, SessionSink } from '../session/session.ts';
import { countRejection, type Admission } from './admission.ts';
import { createKeyMatcher } from './auth.ts';
import { endsSentence, streamOneShot } from './compat-http.ts';
import type { Connection, HttpResponse, HttpRoute, RequestInfo, UpgradeResult, WebSocketHandlers } from './engine.ts';
import { requestIdOf } from './routes.ts';

export const CARTESIA_WS_PATH = '/tts/websocket';
export const CARTESIA_BYTES_PATH = '/tts/bytes';
export const CARTESIA_SSE_PATH = '/tts/sse';

/** Contexts open at once on one socket; one more is refused with 429 (Cartesia documents none). */
export const MAX_CONTEXTS_PER_SOCKET = 256;

export interface CartesiaRouteOptions {
  readonly sessions: SessionFactory;
  readonly pools: readonly PoolConfig[];
  readonly compat: CompatProtocolConfig;
  readonly apiKeys: readonly string[];
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly maxMessageBytes: number;
  readonly admission: Admission;
}

/** What a turn end of a context's session stands for, in the order the flushes were sent. */
type TurnEndKind = 'silent' | 'flush' | 'done';

interface CartesiaContext {
  readonly id: string;
  readonly suffix: string;
  readonly session: Session;
  readonly addTimestamps: boolean;
  readonly maxBufferDelayMs: number;
  readonly turnEnds: TurnEndKind[];
  /** flush_id of the audio being sent now (starts at 1; a delivered flush moves it on). */
  audioFlushId: number;
  /** performance.now() of the last chunk or text: step_time is measured from it. */
  lastStepAt: number;
  /** Audio already sent, for timestamps relative to the context's start. */
  audioMs: number;
  readonly texts: Map<number, string>;
  ended: boolean;
  bufferTimer: NodeJS.Timeout | undefined;
}

export interface CartesiaSocketState {
  /** Pinning key of every context of this socket. */
  readonly key: string;
  readonly connectionId: string;
  readonly version: string;
  readonly openedAt: number;
  readonly contexts: Map<string, CartesiaContext>;
}

function sessionKeyOf(req: RequestInfo): string | undefined {
  const key = req.query.get('session_id') ?? req.headers['x-session-id'];
  return key && key.length <= SESSION_ID_MAX ? key : undefined;
}

const UNAUTHORIZED = new CartesiaError(401, 'Unauthorized', 'missing or invalid API key (X-API-Key header, Authorization: Bearer, or ?api_key=)', 'unauthorized');

export function cartesiaWebSocket(options: CartesiaRouteOptions): WebSocketHandlers<CartesiaSocketState> {
  const { metrics, logger, sessions } = options;
  const keyMatches = createKeyMatcher(options.apiKeys);
  const resolveVoice: VoiceResolver = createVoiceResolver(options.compat.voice_map, options.pools);

  const send = (conn: Connection<CartesiaSocketState>, err: CartesiaError, done = true) => conn.send(errorReply(err, done), false);

  const endContext = (state: CartesiaSocketState, ctx: CartesiaContext, outcome: 'ok' | 'cancelled' | 'client_error') => {
    if (state.contexts.get(ctx.id) !== ctx) return;
    state.contexts.delete(ctx.id);
    if (ctx.bufferTimer) clearTimeout(ctx.bufferTimer);
    ctx.session.close();
    metrics.sessionsActive.dec();
    metrics.sessionsTotal.inc({ outcome: outcome === 'client_error' ? 'client_error' : 'ok' });
    logger.info({ protocol: 'cartesia', session_id: state.key, context_id: ctx.id, instance: ctx.session.pinId, outcome, segments: ctx.session.stats.segments, audio_seconds: Math.round(ctx.session.stats.audioMs) / 1000 }, 'context end');
  };

  const sinkFor = (conn: Connection<CartesiaSocketState>, ctx: () => CartesiaContext): SessionSink => ({
    segment(index, text) {
      const c = ctx();
      if (c.addTimestamps) c.texts.set(index, text);
    },
    audio(frame) {
      const c = ctx();
      const now = performance.now();
      const step = Math.round(now - c.lastStepAt);
      c.lastStepAt = now;
      conn.send(chunkReply(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('base64'), step, c.audioFlushId, c.suffix), false);
    },
    segmentEnd(index, audioMs) {
      const c = ctx();
      if (c.addTimestamps) {
        const text = c.texts.get(index);
        c.texts.delete(index);
        if (text !== undefined) conn.send(timestampsReply(estimateWordTimestamps(text, c.audioMs, audioMs), c.audioFlushId, c.suffix), false);
      }
      c.audioMs += audioMs;
    },
    failover(index, from, to, reason) {
      logger.info({ protocol: 'cartesia', session_id: conn.data.key, context_id: ctx().id, index, from, to, reason }, 'segment failover');
    },
    // Cartesia has no message for these; its clients treat unknown types as errors.
    waiting() {},
    draining() {},
    tooSlow(message) {
      // The client does not read: the socket goes (1008), every context with it (close below).
      send(conn, fromVoicegateError('client_too_slow', message, ctx().id));
      conn.close(CLOSE_CODES.policy, 'client_too_slow');
    },
    turnEnd() {
      const c = ctx();
      const kind = c.turnEnds.shift() ?? 'silent';
      if (kind === 'flush') conn.send(flushDoneReply(c.audioFlushId++, c.suffix), false);
      else if (kind === 'done') {
        conn.send(doneReply(c.suffix), false);
        endContext(conn.data, c, 'ok');
      }
    },
    cancelled() {},
    mark() {},
    error(code, message) {
      send(conn, fromVoicegateError(code, message, ctx().id), false);
    },
    bufferedAmount: () => conn.bufferedAmount(),
    cork: (fn) => conn.cork(fn),
  });

  const openContext = (conn: Connection<CartesiaSocketState>, id: string, msg: CartesiaGeneration): CartesiaContext => {
    const state = conn.data;
    if (!msg.format) throw new CartesiaError(400, 'Invalid request', 'the first message of a context needs output_format {container:"raw", encoding, sample_rate}', 'invalid_request', id);
    if (msg.voiceId === undefined) throw new CartesiaError(400, 'Invalid voice', 'the first message of a context needs voice {"mode":"id","id":…}', 'invalid_voice', id);
    if (state.contexts.size >= MAX_CONTEXTS_PER_SOCKET) throw new CartesiaError(429, 'Too Many Requests', `at most ${MAX_CONTEXTS_PER_SOCKET} contexts may be open on one socket`, 'too_many_contexts', id);
    const refusal = options.admission.check();
    if (refusal) {
      countRejection(metrics, refusal.code);
      throw fromVoicegateError(refusal.code, refusal.message, id);
    }
    let context: CartesiaContext | null = null;
    const session = sessions.create({
      id: `${state.connectionId}/${id}`,
      key: state.key,
      voice: resolveVoice(msg.voiceId),
      language: msg.language,
      speed: msg.speed,
      format: { encoding: msg.format.encoding, sampleRate: msg.format.sampleRate, frameMs: 0 },
      sink: sinkFor(conn, () => context!),
    });
    context = {
      id,
      suffix: contextSuffix(id),
      session,
      addTimestamps: msg.addTimestamps,
      maxBufferDelayMs: msg.maxBufferDelayMs ?? DEFAULT_BUFFER_DELAY_MS,
      turnEnds: [],
      audioFlushId: 1,
      lastStepAt: performance.now(),
      audioMs: 0,
      texts: new Map(),
      ended: false,
      bufferTimer: undefined,
    };
    state.contexts.set(id, context);
    metrics.sessionsActive.inc();
    logger.info({ protocol: 'cartesia', session_id: state.key, context_id: id, instance: session.pinId, pool: session.poolName, voice: session.voice, format: msg.format.encoding, sample_rate: msg.format.sampleRate, version: state.version }, 'context start');
    return context;
  };

  const flushAs = (ctx: CartesiaContext, kind: TurnEndKind) => {
    if (ctx.bufferTimer) {
      clearTimeout(ctx.bufferTimer);
      ctx.bufferTimer = undefined;
    }
    ctx.turnEnds.push(kind);
    ctx.session.flush();
  };

  const generate = (conn: Connection<CartesiaSocketState>, msg: CartesiaGeneration) => {
    const state = conn.data;
    const id = msg.contextId ?? randomUUID();
    const ctx = state.contexts.get(id) ?? openContext(conn, id, msg);
    if (ctx.ended) throw new CartesiaError(400, 'Context closed', `context ${id} already received continue:false`, 'context_closed', id);
    ctx.lastStepAt = performance.now();
    if (msg.transcript.length > 0) ctx.session.text(msg.transcript);
    if (msg.flush) flushAs(ctx, 'flush');
    if (!msg.more) {
      ctx.ended = true;
      flushAs(ctx, 'done');
    } else if (!msg.flush && msg.transcript.length > 0) {
      if (ctx.maxBufferDelayMs === 0 || endsSentence.test(msg.transcript)) flushAs(ctx, 'silent');
      else if (ctx.bufferTimer) ctx.bufferTimer.refresh();
      else ctx.bufferTimer = setTimeout(() => {
        ctx.bufferTimer = undefined;
        if (state.contexts.get(id) === ctx) flushAs(ctx, 'silent');
      }, ctx.maxBufferDelayMs);
    }
  };

  return {
    upgrade(req: RequestInfo): UpgradeResult<CartesiaSocketState> {
      const requestId = requestIdOf(req);
      if (!keyMatches(cartesiaKeyOf(req))) return { accept: false, status: 401, body: httpErrorBody(UNAUTHORIZED, requestId) };
      let version: string;
      try {
        version = cartesiaVersionOf(req);
      } catch (err) {
        return { accept: false, status: 400, body: httpErrorBody(err as CartesiaError, requestId) };
      }
      const refusal = options.admission.check();
      if (refusal) {
        countRejection(metrics, refusal.code);
        return { accept: false, status: 503, body: httpErrorBody(fromVoicegateError(refusal.code, refusal.message), requestId) };
      }
      const connectionId = randomUUID();
      return { accept: true, data: { key: sessionKeyOf(req) ?? connectionId, connectionId, version, openedAt: performance.now(), contexts: new Map() } };
    },

    open() {},

    message(conn, data, isBinary) {
      if (isBinary) return send(conn, new CartesiaError(400, 'Invalid request', 'binary frames are not accepted; send JSON text messages', 'invalid_request'));
      const frame = data as string;
      if (frame.length * 3 > options.maxMessageBytes && Buffer.byteLength(frame) > options.maxMessageBytes) {
        return send(conn, fromVoicegateError('message_too_large', `messages may be at most ${options.maxMessageBytes} bytes`));
      }
      let contextId: string | undefined;
      try {
        const msg = parseCartesiaMessage(frame);
        contextId = msg.contextId;
        if (msg.kind === 'cancel') {
          const ctx = conn.data.contexts.get(msg.contextId);
          // Cartesia sends nothing more for a cancelled context; an unknown one is a no-op.
          if (ctx) {
            ctx.session.cancel();
            endContext(conn.data, ctx, 'cancelled');
          }
          return;
        }
        generate(conn, msg);
      } catch (err) {
        if (err instanceof CartesiaError) return send(conn, err);
        if (err instanceof SessionStartError) return send(conn, fromVoicegateError(err.code, err.message, contextId));
        logger.error({ err, session_id: conn.data.key }, 'unexpected error handling a Cartesia message');
        send(conn, new CartesiaError(500, 'Internal error', 'the message could not be handled', 'internal_error', contextId));
      }
    },

    drain(conn) {
      for (const ctx of conn.data.contexts.values()) ctx.session.drained();
    },

    close(conn, code) {
      const state = conn.data;
      for (const ctx of [...state.contexts.values()]) endContext(state, ctx, code === CLOSE_CODES.normal || code === 1005 || code === CLOSE_CODES.goingAway ? 'cancelled' : 'client_error');
      logger.info({ protocol: 'cartesia', session_id: state.key, close_code: code, duration_seconds: Math.round(performance.now() - state.openedAt) / 1000 }, 'socket end');
    },
  };
}

/** `POST /tts/bytes` (raw or WAV body, streamed) and `POST /tts/sse`. */
export function cartesiaHttpRoutes(options: CartesiaRouteOptions): HttpRoute[] {
  const { metrics, logger } = options;
  const keyMatches = createKeyMatcher(options.apiKeys);
  const resolveVoice = createVoiceResolver(options.compat.voice_map, options.pools);

  const answer = (res: HttpResponse, head: Record<string, string>, err: CartesiaError) => {
    res.writeHead(err.status, { ...head, 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(httpErrorBody(err, head['x-request-id']!));
  };

  const handler = (sse: boolean) => (req: RequestInfo, res: HttpResponse, body: Buffer | null) => {
    const requestId = requestIdOf(req);
    const head = { 'x-request-id': requestId };
    try {
      if (!keyMatches(cartesiaKeyOf(req))) throw UNAUTHORIZED;
      cartesiaVersionOf(req);
      let obj: unknown;
      try {
        obj = JSON.parse(body?.toString('utf8') ?? '');
      } catch {
        throw new CartesiaError(400, 'Invalid request', 'the body must be a JSON generation request', 'invalid_request');
      }
      if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new CartesiaError(400, 'Invalid request', 'the body must be a JSON object', 'invalid_request');
      const msg = parseGeneration(obj as Record<string, unknown>, sse ? ['raw'] : ['raw', 'wav']);
      if (!msg.format) throw new CartesiaError(400, 'Invalid request', 'output_format is required', 'invalid_request');
      if (msg.voiceId === undefined) throw new CartesiaError(400, 'Invalid voice', 'voice {"mode":"id","id":…} is required', 'invalid_voice');
      if (msg.transcript.trim() === '') throw new CartesiaError(400, 'Invalid request', 'transcript must not be empty', 'invalid_request');
      const refusal = options.admission.check();
      if (refusal) {
        countRejection(metrics, refusal.code);
        throw fromVoicegateError(refusal.code, refusal.message);
      }
      const format = msg.format;
      const suffix = contextSuffix(msg.contextId ?? requestId);
      let audioMs = 0;
      let lastStepAt = performance.now();
      streamOneShot({
        sessions: options.sessions,
        metrics,
        logger,
        res,
        head,
        protocol: sse ? 'cartesia-sse' : 'cartesia-bytes',
        text: msg.transcript,
        request: {
          id: requestId,
          key: sessionKeyOf(req) ?? requestId,
          voice: resolveVoice(msg.voiceId),
          language: msg.language,
          speed: msg.speed,
          format: { encoding: format.encoding, sampleRate: format.sampleRate, frameMs: 0 },
          eagerFirst: false,
        },
        framing: sse
          ? {
              contentType: 'text/event-stream',
              audio(frame) {
                const now = performance.now();
                const step = Math.round(now - lastStepAt);
                lastStepAt = now;
                return sseEvent('chunk', chunkReply(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('base64'), step, 1, suffix));
              },
              segmentEnd(_index, text, ms) {
                const start = audioMs;
                audioMs += ms;
                return msg.addTimestamps ? sseEvent('timestamps', timestampsReply(estimateWordTimestamps(text, start, ms), 1, suffix)) : undefined;
              },
              trailer: () => sseEvent('done', doneReply(suffix)),
              refusal: (code, message) => {
                const err = fromVoicegateError(code, message);
                return { status: err.status, body: httpErrorBody(err, requestId) };
              },
              midStream: (code, message) => sseEvent('error', errorReply(fromVoicegateError(code, message, msg.contextId), false, requestId)),
            }
          : {
              contentType: format.container === 'wav' ? 'audio/wav' : 'application/octet-stream',
              preamble: format.container === 'wav' ? wavHeader(format.sampleRate, format.encoding, null) : undefined,
              refusal: (code, message) => {
                const err = fromVoicegateError(code, message);
                return { status: err.status, body: httpErrorBody(err, requestId) };
              },
            },
      });
    } catch (err) {
      if (err instanceof CartesiaError) return answer(res, head, err);
      if (err instanceof SessionStartError) return answer(res, head, fromVoicegateError(err.code, err.message));
      throw err;
    }
  };

  return [
    { method: 'POST', path: CARTESIA_BYTES_PATH, body: true, handler: handler(false) },
    { method: 'POST', path: CARTESIA_SSE_PATH, body: true, handler: handler(true) },
  ];
}
