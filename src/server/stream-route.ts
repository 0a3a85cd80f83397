/**
 * `/v1/stream`: binds the native protocol (protocol/stream.ts) to a Session over any engine.
 * A malformed message gets an error with a code and never ends the call.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import {
  CANCELLED_MESSAGE,
  CLOSE_CODES,
  ProtocolError,
  TURN_END_MESSAGE,
  errorMessage,
  failoverMessage,
  markMessage,
  parseClientMessage,
  readyMessage,
  segmentEndMessage,
  segmentMessage,
  drainingMessage,
  waitingMessage,
  SESSION_ID_MAX,
  type StartMessage,
} from '../protocol/stream.ts';
import { SessionStartError } from '../session/errors.ts';
import type { SessionFactory } from '../session/factory.ts';
import type { Session, SessionSink } from '../session/session.ts';
import { twilioMarkMessage, twilioMediaMessage, twilioMediaPrefix } from '../protocol/twilio.ts';
import { countRejection, type Admission } from './admission.ts';
import type { Authorizer } from './auth.ts';
import type { Connection, RequestInfo, UpgradeResult, WebSocketHandlers } from './engine.ts';

export const STREAM_PATH = '/v1/stream';

/** Refusals of `start`: the call cannot go on here, so it closes with 1013 (try again later). */
const FATAL_AT_START: ReadonlySet<string> = new Set(['no_capacity', 'at_capacity', 'overloaded', 'shutting_down']);

export interface StreamState {
  /** The session id: the client's `session_id`, else a fresh UUID. Also the routing key. */
  readonly key: string;
  readonly openedAt: number;
  session: Session | null;
  pool: string;
  /** Closes the socket if `start` does not come within session.start_timeout_ms. */
  startTimer: ReturnType<typeof setTimeout> | undefined;
}

export interface StreamRouteOptions {
  readonly sessions: SessionFactory;
  readonly authorize: Authorizer;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly maxMessageBytes: number;
  /**
   * Whether one more session may start (drain, server.max_sessions, lag): checked at the upgrade
   * and again at `start`. An upgraded socket holds a place from its upgrade.
   */
  readonly admission: Admission;
  /** A socket that has not sent `start` this long after its upgrade is closed (session.start_timeout_ms). */
  readonly startTimeoutMs: number;
}

/** Twilio mode: audio and marks as Twilio messages; the other events stay native. */
function twilioSink(conn: Connection<StreamState>, streamSid: string): SessionSink {
  const prefix = twilioMediaPrefix(streamSid);
  return {
    ...wsSink(conn),
    audio: (frame) => conn.send(twilioMediaMessage(prefix, frame), false),
    mark: (name) => conn.send(twilioMarkMessage(streamSid, name), false),
  };
}

function wsSink(conn: Connection<StreamState>): SessionSink {
  return {
    segment: (index, text, provider) => conn.send(segmentMessage(index, text, provider), false),
    audio: (frame) => conn.send(frame, true),
    segmentEnd: (index, ms) => conn.send(segmentEndMessage(index, ms), false),
    failover: (index, from, to, reason, replay, voiceChanged) => conn.send(failoverMessage(index, from, to, reason, replay, voiceChanged), false),
    turnEnd: () => conn.send(TURN_END_MESSAGE, false),
    cancelled: () => conn.send(CANCELLED_MESSAGE, false),
    mark: (name) => conn.send(markMessage(name), false),
    waiting: (index, position) => conn.send(waitingMessage(index, position), false),
    draining: (deadlineMs) => conn.send(drainingMessage(deadlineMs), false),
    tooSlow: (message) => {
      conn.send(errorMessage('client_too_slow', message, true), false);
      conn.close(CLOSE_CODES.policy, 'client_too_slow');
    },
    error: (code, message, segments) => conn.send(errorMessage(code, message, false, segments), false),
    bufferedAmount: () => conn.bufferedAmount(),
    cork: (fn) => conn.cork(fn),
  };
}

export function streamHandlers(options: StreamRouteOptions): WebSocketHandlers<StreamState> {
  const { metrics, logger } = options;

  const sendError = (conn: Connection<StreamState>, err: ProtocolError, fatal = false) => {
    conn.send(errorMessage(err.code, err.message, fatal), false);
  };

  const start = (conn: Connection<StreamState>, msg: StartMessage) => {
    const state = conn.data;
    if (state.session) throw new ProtocolError('already_started', 'the session has already started');
    // Checked again (the gateway may have started draining since the upgrade); this socket's
    // own place, held since its upgrade, does not count against it.
    const refusal = options.admission.check(true);
    if (refusal) throw new ProtocolError(refusal.code, refusal.message);
    const session = options.sessions.create({
      id: state.key,
      key: state.key,
      voice: msg.voice,
      language: msg.language,
      speed: msg.speed,
      format: { encoding: msg.encoding, sampleRate: msg.sampleRate, frameMs: msg.frameMs, container: msg.container },
      sink: msg.mode === 'twilio' ? twilioSink(conn, msg.streamSid!) : wsSink(conn),
    });
    state.session = session;
    state.pool = session.poolName;
    clearTimeout(state.startTimer);
    options.admission.releasePlace(); // the live session counts from now on
    metrics.sessionsActive.inc();
    logger.info({ session_id: state.key, instance: session.pinId, pool: session.poolName, voice: session.voice, mode: msg.mode, format: msg.encoding, sample_rate: msg.sampleRate }, 'session start');
    conn.send(readyMessage(state.key, session.poolName, session.pinId, msg.container ?? msg.encoding, msg.sampleRate, msg.frameMs), false);
  };

  return {
    upgrade(req: RequestInfo): UpgradeResult<StreamState> {
      if (!options.authorize(req)) {
        return { accept: false, status: 401, body: errorMessage('unauthorized', 'missing or invalid API key (Authorization: Bearer <key> or ?api_key=<key>)', true) };
      }
      const refusal = options.admission.check();
      if (refusal) {
        countRejection(metrics, refusal.code);
        return { accept: false, status: 503, body: errorMessage(refusal.code, refusal.message, true), retryAfterS: 1 };
      }
      const sessionId = req.query.get('session_id');
      if (sessionId !== null && sessionId.length > SESSION_ID_MAX) {
        // Refused, not replaced: a random id would silently lose the caller's pinning.
        return { accept: false, status: 400, body: errorMessage('invalid_session_id', `session_id may be at most ${SESSION_ID_MAX} characters`, true) };
      }
      const key = sessionId ? sessionId : randomUUID();
      return { accept: true, data: { key, openedAt: performance.now(), session: null, pool: '', startTimer: undefined } };
    },

    open(conn) {
      options.admission.holdPlace();
      const timer = setTimeout(() => {
        if (conn.data.session || conn.closed) return;
        sendError(conn, new ProtocolError('start_timeout', `send {"type":"start"} within ${options.startTimeoutMs} ms of connecting`), true);
        conn.close(CLOSE_CODES.policy, 'start_timeout');
      }, options.startTimeoutMs);
      timer.unref?.();
      conn.data.startTimer = timer;
    },

    message(conn, data, isBinary) {
      if (isBinary) {
        sendError(conn, new ProtocolError('binary_not_supported', 'binary frames are not accepted; send JSON text messages'));
        return;
      }
      const frame = data as string;
      // UTF-16 length bounds the UTF-8 size from below; only measure when it could be over.
      if (frame.length * 3 > options.maxMessageBytes && Buffer.byteLength(frame) > options.maxMessageBytes) {
        sendError(conn, new ProtocolError('message_too_large', `messages may be at most ${options.maxMessageBytes} bytes`));
        return;
      }
      try {
        const msg = parseClientMessage(frame);
        if (msg.type === 'start') return start(conn, msg);
        const session = conn.data.session;
        if (!session) throw new ProtocolError('not_started', `send {"type":"start"} before ${msg.type}`);
        switch (msg.type) {
          case 'text':
            return session.text(msg.text);
          case 'flush':
            return session.flush();
          case 'cancel':
            return session.cancel();
          case 'mark':
            return session.mark(msg.name);
        }
      } catch (caught) {
        // A session that cannot start says so in no protocol's terms; here it becomes this one's.
        const err = caught instanceof SessionStartError ? ProtocolError.fromSessionStart(caught) : caught;
        if (err instanceof ProtocolError) {
          const fatal = FATAL_AT_START.has(err.code);
          sendError(conn, err, fatal);
          if (fatal) {
            countRejection(metrics, err.code);
            conn.close(CLOSE_CODES.tryAgainLater, err.code);
          }
          return;
        }
        logger.error({ err, session_id: conn.data.key }, 'unexpected error handling a client message');
        sendError(conn, new ProtocolError('invalid_message', 'the message could not be handled'));
      }
    },

    drain(conn) {
      conn.data.session?.drained();
    },

    close(conn, code) {
      const state = conn.data;
      const session = state.session;
      if (!session) {
        clearTimeout(state.startTimer);
        options.admission.releasePlace();
        return;
      }
      session.close();
      metrics.sessionsActive.dec();
      const outcome = code === CLOSE_CODES.goingAway && options.admission.draining ? 'shutdown' : code === 1000 || code === 1005 || code === 1001 ? 'ok' : 'client_error';
      metrics.sessionsTotal.inc({ outcome });
      logger.info(
        {
          session_id: state.key,
          instance: session.pinId,
          pool: state.pool,
          segments: session.stats.segments,
          audio_seconds: Math.round(session.stats.audioMs) / 1000,
          failovers: session.stats.failovers,
          duration_seconds: Math.round(performance.now() - state.openedAt) / 1000,
          close_code: code,
        },
        'session end',
      );
    },
  };
}
