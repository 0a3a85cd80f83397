/**
 * The Deepgram drop-in (docs/compat.md): `GET /v1/speak` (WebSocket) and `POST /v1/speak`,
 * speaking protocol/deepgram.ts over the same Session core as /v1/stream.
 *
 * One Session per socket, started when the socket opens (Metadata is the first message). It
 * pins by `?session_id=` or `X-Session-Id`, else the connection. Messages map as:
 *   Speak  → session.text; a text ending a sentence is spoken at once (no reply for that)
 *   Flush  → session.flush, answered by Flushed {sequence_id} once its audio is out
 *   Clear  → session.cancel (GPU requests aborted), answered by Cleared {sequence_id}
 *   Close  → what is buffered is spoken, then the socket closes (1000)
 * The voice is the `model` query parameter through compat.deepgram.voice_map.
 */
import { wavHeader } from '../audio/wav.ts';
import type { CompatProtocolConfig, PoolConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import {
  DeepgramError,
  clearedMessage,
  deepgramKeyOf,
  errorMessage,
  flushedMessage,
  fromVoicegateError,
  httpErrorBody,
  metadataMessage,
  parseDeepgramMessage,
  parseFormat,
  parseSpeed,
  warningMessage,
  type DeepgramFormat,
} from '../protocol/deepgram.ts';
import { CLOSE_CODES, SESSION_ID_MAX } from '../protocol/stream.ts';
import { SessionStartError } from '../session/errors.ts';
import { createVoiceResolver } from '../protocol/voice-map.ts';
import type { SessionFactory } from '../session/factory.ts';
import type { Session, SessionSink } from '../session/session.ts';
import { countRejection, type Admission } from './admission.ts';
import { createKeyMatcher } from './auth.ts';
import { endsSentence, streamOneShot } from './compat-http.ts';
import type { Connection, HttpResponse, HttpRoute, RequestInfo, UpgradeResult, WebSocketHandlers } from './engine.ts';
import { requestIdOf } from './routes.ts';

export const DEEPGRAM_SPEAK_PATH = '/v1/speak';

const DEFAULT_MODEL = 'aura-2-thalia-en';

export interface DeepgramRouteOptions {
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

type TurnEndKind = 'silent' | 'flush' | 'close';

export interface DeepgramSocketState {
  readonly key: string;
  readonly requestId: string;
  readonly model: string;
  readonly voice: string | undefined;
  readonly format: DeepgramFormat;
  readonly speed: number | undefined;
  readonly language: string | undefined;
  readonly openedAt: number;
  session: Session | null;
  readonly turnEnds: TurnEndKind[];
  /** Flushed and Cleared count up together, from 0. */
  sequenceId: number;
  closing: boolean;
}

function sessionKeyOf(req: RequestInfo): string | undefined {
  const key = req.query.get('session_id') ?? req.headers['x-session-id'];
  return key && key.length <= SESSION_ID_MAX ? key : undefined;
}

const UNAUTHORIZED = new DeepgramError(401, 'INVALID_AUTH', 'missing or invalid credentials (Authorization: Token <key>)');

export function deepgramWebSocket(options: DeepgramRouteOptions): WebSocketHandlers<DeepgramSocketState> {
  const { metrics, logger } = options;
  const keyMatches = createKeyMatcher(options.apiKeys);
  const resolveVoice = createVoiceResolver(options.compat.voice_map, options.pools);

  const warn = (conn: Connection<DeepgramSocketState>, err: DeepgramError) => conn.send(warningMessage(err), false);

  const sinkFor = (conn: Connection<DeepgramSocketState>): SessionSink => ({
    segment() {},
    audio: (frame) => conn.send(frame, true),
    segmentEnd() {},
    failover(index, from, to, reason) {
      logger.info({ protocol: 'deepgram', session_id: conn.data.key, index, from, to, reason }, 'segment failover');
    },
    waiting() {},
    // A Warning is harmless to every Deepgram client (they log it) and tells why a close may come.
    draining(deadlineMs) {
      warn(conn, new DeepgramError(503, 'SHUTTING_DOWN', `the gateway is draining: finish within ${deadlineMs} ms, then reconnect`));
    },
    tooSlow(message) {
      conn.send(errorMessage(fromVoicegateError('client_too_slow', message)), false);
      conn.close(CLOSE_CODES.policy, 'client_too_slow');
    },
    turnEnd() {
      const state = conn.data;
      const kind = state.turnEnds.shift();
      if (kind === 'flush') conn.send(flushedMessage(state.sequenceId++), false);
      else if (kind === 'close') conn.close(CLOSE_CODES.normal, '');
    },
    cancelled() {
      conn.send(clearedMessage(conn.data.sequenceId++), false);
    },
    mark() {},
    error(code, message) {
      warn(conn, fromVoicegateError(code, message));
    },
    bufferedAmount: () => conn.bufferedAmount(),
    cork: (fn) => conn.cork(fn),
  });

  const flushAs = (state: DeepgramSocketState, kind: TurnEndKind) => {
    state.turnEnds.push(kind);
    state.session!.flush();
  };

  return {
    upgrade(req: RequestInfo): UpgradeResult<DeepgramSocketState> {
      const requestId = requestIdOf(req);
      const refuse = (err: DeepgramError): UpgradeResult<DeepgramSocketState> => ({ accept: false, status: err.status, body: httpErrorBody(err, requestId) });
      if (!keyMatches(deepgramKeyOf(req.headers))) return refuse(UNAUTHORIZED);
      let format: DeepgramFormat;
      let speed: number | undefined;
      let voice: string | undefined;
      const model = req.query.get('model') ?? DEFAULT_MODEL;
      try {
        format = parseFormat(req.query, false);
        speed = parseSpeed(req.query);
        voice = resolveVoice(req.query.get('model') ?? undefined);
      } catch (err) {
        if (err instanceof SessionStartError) return refuse(fromVoicegateError(err.code, err.message));
        return refuse(err as DeepgramError);
      }
      const refusal = options.admission.check();
      if (refusal) {
        countRejection(metrics, refusal.code);
        return refuse(fromVoicegateError(refusal.code, refusal.message));
      }
      const language = req.query.get('language');
      return {
        accept: true,
        data: {
          key: sessionKeyOf(req) ?? requestId,
          requestId,
          model,
          voice,
          format,
          speed,
          language: language && language.length <= 20 ? language : undefined,
          openedAt: performance.now(),
          session: null,
          turnEnds: [],
          sequenceId: 0,
          closing: false,
        },
      };
    },

    open(conn) {
      const state = conn.data;
      try {
        state.session = options.sessions.create({
          id: state.requestId,
          key: state.key,
          voice: state.voice,
          language: state.language,
          speed: state.speed,
          format: { encoding: state.format.encoding, sampleRate: state.format.sampleRate, frameMs: 0 },
          sink: sinkFor(conn),
        });
      } catch (err) {
        if (!(err instanceof SessionStartError)) throw err;
        countRejection(metrics, err.code);
        conn.send(errorMessage(fromVoicegateError(err.code, err.message)), false);
        conn.close(CLOSE_CODES.tryAgainLater, err.code);
        return;
      }
      metrics.sessionsActive.inc();
      logger.info({ protocol: 'deepgram', session_id: state.key, instance: state.session.pinId, pool: state.session.poolName, voice: state.session.voice, model: state.model, format: state.format.encoding, sample_rate: state.format.sampleRate }, 'session start');
      conn.send(metadataMessage(state.requestId, state.model), false);
    },

    message(conn, data, isBinary) {
      const state = conn.data;
      const session = state.session;
      if (!session) return;
      if (isBinary) return warn(conn, new DeepgramError(400, 'INVALID_MESSAGE', 'binary frames are not accepted; send JSON text messages'));
      const frame = data as string;
      if (frame.length * 3 > options.maxMessageBytes && Buffer.byteLength(frame) > options.maxMessageBytes) {
        return warn(conn, fromVoicegateError('message_too_large', `messages may be at most ${options.maxMessageBytes} bytes`));
      }
      try {
        const msg = parseDeepgramMessage(frame);
        if (state.closing) throw new DeepgramError(400, 'CLOSING', 'the socket is closing: Close was sent');
        switch (msg.type) {
          case 'Speak':
            if (msg.text.length === 0) return;
            session.text(msg.text);
            if (endsSentence.test(msg.text)) flushAs(state, 'silent');
            return;
          case 'Flush':
            return flushAs(state, 'flush');
          case 'Clear':
            // The session drops its queued turn ends with the audio; Cleared comes from cancelled().
            state.turnEnds.length = 0;
            return session.cancel();
          case 'Close':
            state.closing = true;
            return flushAs(state, 'close');
        }
      } catch (err) {
        if (err instanceof DeepgramError) return warn(conn, err);
        if (err instanceof SessionStartError) return warn(conn, fromVoicegateError(err.code, err.message));
        logger.error({ err, session_id: state.key }, 'unexpected error handling a Deepgram message');
        warn(conn, new DeepgramError(500, 'INTERNAL_ERROR', 'the message could not be handled'));
      }
    },

    drain(conn) {
      conn.data.session?.drained();
    },

    close(conn, code) {
      const state = conn.data;
      const session = state.session;
      if (!session) return;
      session.close();
      metrics.sessionsActive.dec();
      metrics.sessionsTotal.inc({ outcome: code === CLOSE_CODES.normal || code === 1005 || code === CLOSE_CODES.goingAway ? 'ok' : 'client_error' });
      logger.info({ protocol: 'deepgram', session_id: state.key, instance: session.pinId, segments: session.stats.segments, audio_seconds: Math.round(session.stats.audioMs) / 1000, close_code: code, duration_seconds: Math.round(performance.now() - state.openedAt) / 1000 }, 'session end');
    },
  };
}

/** `POST /v1/speak?model&encoding&sample_rate&container` with `{"text"}`: the audio, streamed. */
export function deepgramHttpRoutes(options: DeepgramRouteOptions): HttpRoute[] {
  const { metrics, logger } = options;
  const keyMatches = createKeyMatcher(options.apiKeys);
  const resolveVoice = createVoiceResolver(options.compat.voice_map, options.pools);

  const answer = (res: HttpResponse, head: Record<string, string>, err: DeepgramError) => {
    res.writeHead(err.status, { ...head, 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(httpErrorBody(err, head['dg-request-id']!));
  };

  const speak = (req: RequestInfo, res: HttpResponse, body: Buffer | null) => {
    const requestId = requestIdOf(req);
    const model = req.query.get('model') ?? DEFAULT_MODEL;
    const head = { 'x-request-id': requestId, 'dg-request-id': requestId, 'dg-model-name': model };
    try {
      if (!keyMatches(deepgramKeyOf(req.headers))) throw UNAUTHORIZED;
      const format = parseFormat(req.query, true);
      const speed = parseSpeed(req.query);
      const voice = resolveVoice(req.query.get('model') ?? undefined);
      let text: unknown;
      try {
        text = (JSON.parse(body?.toString('utf8') ?? '') as { text?: unknown }).text;
      } catch {
        throw new DeepgramError(400, 'INVALID_JSON', 'the body must be JSON: {"text": "…"}');
      }
      if (typeof text !== 'string' || text.trim() === '') throw new DeepgramError(400, 'INVALID_TEXT', 'text must be a non-empty string');
      if (text.length > options.maxTextChars) throw new DeepgramError(413, 'TEXT_TOO_LONG', `text may be at most ${options.maxTextChars} characters`);
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
        head: { ...head, 'dg-char-count': String(text.length) },
        protocol: 'deepgram-http',
        text,
        request: {
          id: requestId,
          key: sessionKeyOf(req) ?? requestId,
          voice,
          speed,
          format: { encoding: format.encoding, sampleRate: format.sampleRate, frameMs: 0 },
          eagerFirst: false,
        },
        framing: {
          contentType: format.contentType,
          preamble: format.wav ? wavHeader(format.sampleRate, format.encoding, null) : undefined,
          refusal: (code, message) => {
            const err = fromVoicegateError(code, message);
            return { status: err.status, body: httpErrorBody(err, requestId) };
          },
        },
      });
    } catch (err) {
      if (err instanceof DeepgramError) return answer(res, head, err);
      if (err instanceof SessionStartError) return answer(res, head, fromVoicegateError(err.code, err.message));
      throw err;
    }
  };

  return [{ method: 'POST', path: DEEPGRAM_SPEAK_PATH, body: true, handler: speak }];
}
