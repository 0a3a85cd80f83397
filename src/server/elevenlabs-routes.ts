/**
 * The ElevenLabs drop-in (docs/compat.md): `GET /v1/text-to-speech/{voice_id}/stream-input`,
 * `…/multi-stream-input` (WebSocket) and `POST /v1/text-to-speech/{voice_id}/stream`,
 * speaking protocol/elevenlabs.ts over the same Session core as /v1/stream.
 *
 * One Session per context (stream-input has one, unnamed). Every context of a socket pins by
 * the same key (`?session_id=` or `X-Session-Id`, else the connection). Messages map as:
 *   {text:" "}                      opens the context (nothing to say yet)
 *   {text:"…"}                      session.text; a text ending a sentence is spoken at once
 *   {flush:true}                    session.flush (speak what is buffered)
 *   {text:""} on stream-input       end of input: flush, then {isFinal:true}, socket closed
 *   {text:""} on multi-stream-input keepalive
 *   {close_context:true}            right after a bare flush ({text:"", flush:true} or
 *                                   {flush:true}): the flushed audio finishes, then isFinal
 *                                   (LiveKit's end of turn); otherwise, or a second time while
 *                                   the audio finishes, barge-in: the session is cancelled
 *                                   (GPU requests aborted), then isFinal
 *   {close_socket:true}             every context closes as above, then the socket (1000)
 * Alignment (characters and times) is estimated and rides on the first audio of each segment.
 */
import { randomUUID } from 'node:crypto';
import type { CompatProtocolConfig, PoolConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import {
  ElevenLabsError,
  audioMessage,
  contextSuffix,
  elevenLabsKeyOf,
  finalMessage,
  fromVoicegateError,
  httpErrorBody,
  parseElevenLabsMessage,
  parseInactivityTimeout,
  parseOutputFormat,
  parseSpeechBody,
  wsErrorMessage,
  type ElevenLabsFormat,
  type ElevenLabsMessage,
} from '../protocol/elevenlabs.ts';
import { CLOSE_CODES, SESSION_ID_MAX } from '../protocol/stream.ts';
import { SessionStartError } from '../session/errors.ts';
import { estimateCharAlignment } from '../protocol/timestamps.ts';
import { createVoiceResolver } from '../protocol/voice-map.ts';
import type { SessionFactory } from '../session/factory.ts';
import type { Session, SessionSink } from '../session/session.ts';
import { countRejection, type Admission } from './admission.ts';
import { createKeyMatcher } from './auth.ts';
import { endsSentence, streamOneShot } from './compat-http.ts';
import type { Connection, HttpResponse, HttpRoute, RequestInfo, UpgradeResult, WebSocketHandlers } from './engine.ts';
import { requestIdOf } from './routes.ts';

export const ELEVENLABS_PREFIX = '/v1/text-to-speech/';
export const ELEVENLABS_STREAM_INPUT = '/v1/text-to-speech/:voice_id/stream-input';
export const ELEVENLABS_MULTI_STREAM_INPUT = '/v1/text-to-speech/:voice_id/multi-stream-input';

/** Contexts open at once on one multi-stream socket (ElevenLabs allows 5; voicegate is roomier). */
export const MAX_CONTEXTS_PER_SOCKET = 64;
/** Speaking rate assumed for a segment's alignment before its audio length is known. */
const ESTIMATED_MS_PER_CHAR = 65;

export interface ElevenLabsRouteOptions {
  readonly sessions: SessionFactory;
  readonly pools: readonly PoolConfig[];
  readonly compat: CompatProtocolConfig;
  readonly apiKeys: readonly string[];
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly maxMessageBytes: number;
  readonly maxTextChars: number;
  readonly admission: Admission;
}

type TurnEndKind = 'flush' | 'final';

interface ElevenLabsContext {
  /** undefined = stream-input's single context, or multi-stream's default one. */
  readonly id: string | undefined;
  readonly suffix: string;
  readonly session: Session;
  readonly turnEnds: TurnEndKind[];
  /** The last message was a flush without text: a close_context now lets the audio finish. */
  bareFlush: boolean;
  /** close_context or close_socket came; isFinal once the flushed audio is out. */
  closing: boolean;
  /** Text of each segment in delivery, to learn the pace (ms per character) at its end. */
  readonly pendingAlignment: Map<number, string>;
  /** The segment whose first audio is next: that audio carries the segment's alignment. */
  alignFor: string | null;
  msPerChar: number;
}

export interface ElevenLabsSocketState {
  readonly key: string;
  readonly connectionId: string;
  readonly multi: boolean;
  readonly voice: string | undefined;
  readonly language: string | undefined;
  readonly format: ElevenLabsFormat;
  readonly inactivityMs: number;
  readonly openedAt: number;
  /** The key did not come at the upgrade: the first message must carry it. */
  authPending: boolean;
  closingSocket: boolean;
  readonly contexts: Map<string | undefined, ElevenLabsContext>;
  inactivityTimer: NodeJS.Timeout | undefined;
}

function voiceIdOfPath(path: string): string {
  const rest = path.slice(ELEVENLABS_PREFIX.length);
  const slash = rest.indexOf('/');
  try {
    return decodeURIComponent(slash < 0 ? rest : rest.slice(0, slash));
  } catch {
    return '';
  }
}

function sessionKeyOf(req: RequestInfo): string | undefined {
  const key = req.query.get('session_id') ?? req.headers['x-session-id'];
  return key && key.length <= SESSION_ID_MAX ? key : undefined;
}

const UNAUTHORIZED = new ElevenLabsError(401, 'invalid_api_key', 'missing or invalid API key (xi-api-key header, or xi_api_key in the first message)');

export function elevenLabsWebSocket(options: ElevenLabsRouteOptions): WebSocketHandlers<ElevenLabsSocketState> {
  const { metrics, logger, sessions } = options;
  const keyMatches = createKeyMatcher(options.apiKeys);
  const resolveVoice = createVoiceResolver(options.compat.voice_map, options.pools);

  const sendError = (conn: Connection<ElevenLabsSocketState>, err: ElevenLabsError) => conn.send(wsErrorMessage(err), false);
  const fatal = (conn: Connection<ElevenLabsSocketState>, err: ElevenLabsError, code: number = CLOSE_CODES.policy) => {
    sendError(conn, err);
    conn.close(code, err.wireCode);
  };

  const endContext = (conn: Connection<ElevenLabsSocketState>, ctx: ElevenLabsContext, outcome: 'ok' | 'cancelled' | 'client_error', sendFinal: boolean) => {
    const state = conn.data;
    if (state.contexts.get(ctx.id) !== ctx) return;
    state.contexts.delete(ctx.id);
    ctx.session.close();
    metrics.sessionsActive.dec();
    metrics.sessionsTotal.inc({ outcome: outcome === 'client_error' ? 'client_error' : 'ok' });
    logger.info({ protocol: 'elevenlabs', session_id: state.key, context_id: ctx.id, instance: ctx.session.pinId, outcome, segments: ctx.session.stats.segments, audio_seconds: Math.round(ctx.session.stats.audioMs) / 1000 }, 'context end');
    if (sendFinal) conn.send(finalMessage(ctx.suffix), false);
    // stream-input ends with its one context; close_socket once every context is done.
    if (!state.multi || (state.closingSocket && state.contexts.size === 0)) conn.close(CLOSE_CODES.normal, '');
  };

  const sinkFor = (conn: Connection<ElevenLabsSocketState>, ctx: () => ElevenLabsContext): SessionSink => ({
    segment(index, text) {
      const c = ctx();
      c.pendingAlignment.set(index, text);
      c.alignFor = text;
    },
    audio(frame) {
      const c = ctx();
      let alignment = null;
      if (c.alignFor !== null) {
        alignment = estimateCharAlignment(c.alignFor, 0, c.alignFor.length * c.msPerChar);
        c.alignFor = null;
      }
      conn.send(audioMessage(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).toString('base64'), alignment, c.suffix), false);
    },
    segmentEnd(index, audioMs) {
      const c = ctx();
      const text = c.pendingAlignment.get(index);
      c.pendingAlignment.delete(index);
      // Learn the voice's pace for the next segment's estimate.
      if (text && audioMs > 0) c.msPerChar = 0.5 * c.msPerChar + (0.5 * audioMs) / text.length;
    },
    failover(index, from, to, reason) {
      logger.info({ protocol: 'elevenlabs', session_id: conn.data.key, context_id: ctx().id, index, from, to, reason }, 'segment failover');
    },
    // ElevenLabs has no message for these.
    waiting() {},
    draining() {},
    tooSlow(message) {
      fatal(conn, fromVoicegateError('client_too_slow', message, ctx().id));
    },
    turnEnd() {
      const c = ctx();
      const kind = c.turnEnds.shift();
      if (kind === 'final' || (c.closing && c.turnEnds.length === 0)) endContext(conn, c, 'ok', true);
    },
    cancelled() {},
    mark() {},
    error(code, message) {
      sendError(conn, fromVoicegateError(code, message, ctx().id));
    },
    bufferedAmount: () => conn.bufferedAmount(),
    cork: (fn) => conn.cork(fn),
  });

  const openContext = (conn: Connection<ElevenLabsSocketState>, id: string | undefined, msg: ElevenLabsMessage): ElevenLabsContext => {
    const state = conn.data;
    if (state.contexts.size >= MAX_CONTEXTS_PER_SOCKET) throw new ElevenLabsError(429, 'max_active_contexts_exceeded', `at most ${MAX_CONTEXTS_PER_SOCKET} contexts may be open on one socket`, id);
    const refusal = options.admission.check();
    if (refusal) {
      countRejection(metrics, refusal.code);
      throw fromVoicegateError(refusal.code, refusal.message, id);
    }
    let context: ElevenLabsContext | null = null;
    const session = sessions.create({
      id: `${state.connectionId}/${id ?? 'default'}`,
      key: state.key,
      voice: state.voice,
      language: state.language,
      speed: msg.speed,
      format: { encoding: state.format.encoding, sampleRate: state.format.sampleRate, frameMs: 0, container: state.format.container },
      sink: sinkFor(conn, () => context!),
    });
    context = {
      id,
      suffix: state.multi ? contextSuffix(id) : '}',
      session,
      turnEnds: [],
      bareFlush: false,
      closing: false,
      pendingAlignment: new Map(),
      alignFor: null,
      msPerChar: ESTIMATED_MS_PER_CHAR,
    };
    state.contexts.set(id, context);
    metrics.sessionsActive.inc();
    logger.info({ protocol: 'elevenlabs', session_id: state.key, context_id: id, instance: session.pinId, pool: session.poolName, voice: session.voice, format: state.format.encoding, sample_rate: state.format.sampleRate }, 'context start');
    return context;
  };

  const flushAs = (ctx: ElevenLabsContext, kind: TurnEndKind) => {
    ctx.turnEnds.push(kind);
    ctx.session.flush();
  };

  /** close_context: graceful right after a bare flush, else (or when repeated) barge-in. */
  const closeContext = (conn: Connection<ElevenLabsSocketState>, ctx: ElevenLabsContext) => {
    if (!ctx.closing && ctx.bareFlush && ctx.turnEnds.length > 0) {
      ctx.closing = true;
      return;
    }
    ctx.session.cancel();
    endContext(conn, ctx, 'cancelled', true);
  };

  const armInactivity = (conn: Connection<ElevenLabsSocketState>) => {
    const state = conn.data;
    if (state.inactivityTimer) return state.inactivityTimer.refresh();
    state.inactivityTimer = setTimeout(function expire() {
      // Audio still being produced is activity: ElevenLabs times out on silence from the client only while idle.
      for (const ctx of state.contexts.values()) {
        if (ctx.turnEnds.length > 0) {
          state.inactivityTimer = setTimeout(expire, state.inactivityMs);
          return;
        }
      }
      state.inactivityTimer = undefined;
      fatal(conn, new ElevenLabsError(CLOSE_CODES.policy, 'input_timeout_exceeded', `Have not received new text for ${state.inactivityMs / 1000} seconds. Closing the websocket connection.`));
    }, state.inactivityMs);
  };

  const handle = (conn: Connection<ElevenLabsSocketState>, msg: ElevenLabsMessage) => {
    const state = conn.data;
    if (state.authPending) {
      if (!keyMatches(msg.apiKey)) return fatal(conn, UNAUTHORIZED);
      state.authPending = false;
    }
    if (msg.closeSocket) {
      state.closingSocket = true;
      for (const ctx of [...state.contexts.values()]) if (!ctx.closing) closeContext(conn, ctx);
      if (state.contexts.size === 0) conn.close(CLOSE_CODES.normal, '');
      return;
    }
    const id = state.multi ? msg.contextId : undefined;
    let ctx = state.contexts.get(id);
    if (msg.closeContext) {
      if (ctx) closeContext(conn, ctx);
      return;
    }
    const text = msg.text;
    // Keepalive on multi-stream; nothing to open a context for.
    if (state.multi && text === '' && !msg.flush) return;
    ctx ??= openContext(conn, id, msg);
    if (ctx.closing) throw new ElevenLabsError(CLOSE_CODES.policy, 'context_closed', `context ${id ?? 'default'} is closing`, id);
    if (text === '' && !msg.flush && !state.multi) {
      // stream-input: end of input.
      ctx.bareFlush = true;
      flushAs(ctx, 'final');
      return;
    }
    // " " opens a context; text messages end with a space, and a space alone carries nothing.
    const spoken = text !== undefined && text.trim() !== '';
    if (spoken) ctx.session.text(text!);
    if (msg.flush) {
      ctx.bareFlush = !spoken;
      flushAs(ctx, 'flush');
    } else if (spoken) {
      ctx.bareFlush = false;
      if (endsSentence.test(text!)) flushAs(ctx, 'flush');
    }
  };

  return {
    upgrade(req: RequestInfo): UpgradeResult<ElevenLabsSocketState> {
      const presented = elevenLabsKeyOf(req.headers, req.query);
      if (presented !== undefined && !keyMatches(presented)) return { accept: false, status: 401, body: httpErrorBody(UNAUTHORIZED) };
      let format: ElevenLabsFormat;
      let inactivityS: number;
      let voice: string | undefined;
      try {
        format = parseOutputFormat(req.query.get('output_format'));
        inactivityS = parseInactivityTimeout(req.query.get('inactivity_timeout'));
        voice = resolveVoice(voiceIdOfPath(req.path));
      } catch (err) {
        const e = err instanceof SessionStartError ? fromVoicegateError(err.code, err.message) : (err as ElevenLabsError);
        return { accept: false, status: e.status, body: httpErrorBody(e) };
      }
      const refusal = options.admission.check();
      if (refusal) {
        countRejection(metrics, refusal.code);
        return { accept: false, status: 503, body: httpErrorBody(fromVoicegateError(refusal.code, refusal.message)) };
      }
      const language = req.query.get('language_code');
      const connectionId = randomUUID();
      return {
        accept: true,
        data: {
          key: sessionKeyOf(req) ?? connectionId,
          connectionId,
          multi: req.path.endsWith('/multi-stream-input'),
          voice,
          language: language && language.length <= 20 ? language : undefined,
          format,
          inactivityMs: inactivityS * 1000,
          openedAt: performance.now(),
          authPending: presented === undefined && options.apiKeys.length > 0,
          closingSocket: false,
          contexts: new Map(),
          inactivityTimer: undefined,
        },
      };
    },

    open(conn) {
      armInactivity(conn);
    },

    message(conn, data, isBinary) {
      armInactivity(conn);
      if (isBinary) return sendError(conn, new ElevenLabsError(1003, 'invalid_message', 'binary frames are not accepted; send JSON text messages'));
      const frame = data as string;
      if (frame.length * 3 > options.maxMessageBytes && Buffer.byteLength(frame) > options.maxMessageBytes) {
        return sendError(conn, fromVoicegateError('message_too_large', `messages may be at most ${options.maxMessageBytes} bytes`));
      }
      let contextId: string | undefined;
      try {
        const msg = parseElevenLabsMessage(frame);
        contextId = msg.contextId;
        handle(conn, msg);
      } catch (err) {
        if (err instanceof ElevenLabsError) return sendError(conn, err);
        if (err instanceof SessionStartError) return sendError(conn, fromVoicegateError(err.code, err.message, contextId));
        logger.error({ err, session_id: conn.data.key }, 'unexpected error handling an ElevenLabs message');
        sendError(conn, new ElevenLabsError(500, 'internal_error', 'the message could not be handled', contextId));
      }
    },

    drain(conn) {
      for (const ctx of conn.data.contexts.values()) ctx.session.drained();
    },

    close(conn, code) {
      const state = conn.data;
      if (state.inactivityTimer) clearTimeout(state.inactivityTimer);
      state.inactivityTimer = undefined;
      for (const ctx of [...state.contexts.values()]) {
        state.contexts.delete(ctx.id);
        ctx.session.close();
        metrics.sessionsActive.dec();
        metrics.sessionsTotal.inc({ outcome: code === CLOSE_CODES.normal || code === 1005 || code === CLOSE_CODES.goingAway ? 'ok' : 'client_error' });
      }
      logger.info({ protocol: 'elevenlabs', session_id: state.key, close_code: code, duration_seconds: Math.round(performance.now() - state.openedAt) / 1000 }, 'socket end');
    },
  };
}

/** `POST /v1/text-to-speech/{voice_id}/stream`: the body's text, streamed as audio. */
export function elevenLabsHttpRoutes(options: ElevenLabsRouteOptions): HttpRoute[] {
  const { metrics, logger } = options;
  const keyMatches = createKeyMatcher(options.apiKeys);
  const resolveVoice = createVoiceResolver(options.compat.voice_map, options.pools);

  const answer = (res: HttpResponse, head: Record<string, string>, err: ElevenLabsError) => {
    res.writeHead(err.status, { ...head, 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(httpErrorBody(err));
  };

  const stream = (req: RequestInfo, res: HttpResponse, body: Buffer | null) => {
    const requestId = requestIdOf(req);
    const head = { 'x-request-id': requestId, 'request-id': requestId };
    try {
      if (!req.path.endsWith('/stream') || req.path.split('/').length !== 5) throw new ElevenLabsError(404, 'not_found', `POST ${req.path}: no such route; use /v1/text-to-speech/{voice_id}/stream`);
      if (!keyMatches(elevenLabsKeyOf(req.headers, req.query))) throw UNAUTHORIZED;
      const format = parseOutputFormat(req.query.get('output_format'));
      const voice = resolveVoice(voiceIdOfPath(req.path));
      const request = parseSpeechBody(body, options.maxTextChars);
      const refusal = options.admission.check();
      if (refusal) {
        countRejection(metrics, refusal.code);
        throw fromVoicegateError(refusal.code, refusal.message);
      }
      streamOneShot({
        sessions: options.sessions,
        metrics,
        logger,
        res,
        head,
        protocol: 'elevenlabs-http',
        text: request.text,
        request: {
          id: requestId,
          key: sessionKeyOf(req) ?? requestId,
          voice,
          language: request.languageCode,
          speed: request.speed,
          format: { encoding: format.encoding, sampleRate: format.sampleRate, frameMs: 0, container: format.container },
          eagerFirst: false,
        },
        framing: {
          contentType: format.contentType,
          refusal: (code, message) => {
            const err = fromVoicegateError(code, message);
            return { status: err.status, body: httpErrorBody(err) };
          },
        },
      });
    } catch (err) {
      if (err instanceof ElevenLabsError) return answer(res, head, err);
      if (err instanceof SessionStartError) return answer(res, head, fromVoicegateError(err.code, err.message));
      throw err;
    }
  };

  return [{ method: 'POST', path: `${ELEVENLABS_PREFIX}*`, body: true, handler: stream }];
}
