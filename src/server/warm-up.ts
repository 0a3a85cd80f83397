/**
 * Throwaway calls through the native front end before /ready says 200 (issue 18, "the first
 * call after ready is as fast as later ones"). On a fresh process V8 has compiled none of the
 * call's code: the first call paid for it (~0.9 s to first audio against ~80 ms later). After
 * one warm-up turn the first calls were still slower than the tenth (1.3–1.4× on a quiet
 * machine), and not because one path was cold: calls 1–6 settle to the steady time as V8
 * optimises what they run. So the gateway runs several calls (gateway.ts WARM_UP_CALLS), on
 * different session ids so each instance's path takes part (bench/RESULTS.md, cold starts).
 *
 * The calls run in memory: `/v1/stream`'s own handlers (stream-route.ts) over a Connection that
 * keeps nothing, so no socket, port, API key or client is involved, and the front end's code
 * (message parsing, the start path, the sink's events) warms with the session's. They have
 * their own factory, metrics, admission and a silent logger, so no operator sees a call nobody
 * made; they pin and take stream slots in the real fleet like any call, which warms that code too.
 */
import type { Metrics } from '../metrics.ts';
import { silentLogger } from '../log.ts';
import { TURN_END_MESSAGE } from '../protocol/stream.ts';
import type { SessionFactory } from '../session/factory.ts';
import { Admission } from './admission.ts';
import type { Connection, RequestInfo, WebSocketHandlers } from './engine.ts';
import { STREAM_PATH, streamHandlers, type StreamState } from './stream-route.ts';

export interface WarmUpOptions {
  /** A factory of its own over the gateway's fleet and backends. */
  readonly sessions: SessionFactory;
  /** Metrics nobody scrapes (the factory's too): the warm-up's sessions and audio count there. */
  readonly metrics: Metrics;
  /** session.max_message_bytes, as the real route has it. */
  readonly maxMessageBytes: number;
  /** Calls, one after another, each on its own session id (so the calls spread over the instances). */
  readonly calls: number;
  /** Each call gives up after this long: the warm-up only warms code, it never holds a start back for long. */
  readonly timeoutMs: number;
}

/** What a default client sends: one sentence and a flush, the shape of a call's first turn. */
const WARM_UP_MESSAGES = [
  JSON.stringify({ type: 'start' }),
  JSON.stringify({ type: 'text', text: 'Thank you for calling. How can I help you today?' }),
  JSON.stringify({ type: 'flush' }),
];

const warmUpRequest = (n: number): RequestInfo => ({
  method: 'GET',
  path: STREAM_PATH,
  query: new URLSearchParams({ session_id: `voicegate-warm-up-${n}` }),
  headers: {},
  remoteAddress: '127.0.0.1',
});

/**
 * Runs the warm-up calls. Resolves true when every turn ended, false when one failed or timed
 * out (the first call may then be slower; nothing else depends on it).
 */
export async function warmUpStreamPath(options: WarmUpOptions): Promise<boolean> {
  const handlers = streamHandlers({
    sessions: options.sessions,
    authorize: () => true,
    metrics: options.metrics,
    logger: silentLogger,
    maxMessageBytes: options.maxMessageBytes,
    admission: new Admission({ maxSessions: 0, refuseWhenLagging: false, liveSessions: () => 0, lagging: () => false }),
    startTimeoutMs: options.timeoutMs,
  });
  // The first call that fails ends the warm-up: the next ones would most likely fail the same way.
  for (let n = 0; n < options.calls; n++) if (!(await warmUpCall(handlers, n, options.timeoutMs))) return false;
  return true;
}

async function warmUpCall(handlers: WebSocketHandlers<StreamState>, n: number, timeoutMs: number): Promise<boolean> {
  const upgraded = handlers.upgrade(warmUpRequest(n));
  if (!upgraded.accept) return false;
  let timer: NodeJS.Timeout | undefined;
  let turnEnded!: (ended: boolean) => void;
  const ended = new Promise<boolean>((resolve) => (turnEnded = resolve));
  let closed = false;
  const conn: Connection<StreamState> = {
    data: upgraded.data,
    get closed() {
      return closed;
    },
    send(data, isBinary) {
      if (!isBinary && data === TURN_END_MESSAGE) turnEnded(true);
      return !closed;
    },
    bufferedAmount: () => 0,
    cork: (fn) => fn(),
    // A refused start (no instance up yet, say) closes the call: the warm-up ends there.
    close() {
      closed = true;
      turnEnded(false);
    },
  };
  try {
    handlers.open(conn);
    for (const message of WARM_UP_MESSAGES) handlers.message(conn, message, false);
    timer = setTimeout(() => turnEnded(false), timeoutMs);
    return await ended;
  } finally {
    clearTimeout(timer);
    clearTimeout(conn.data.startTimer);
    handlers.close(conn, 1000, '');
  }
}
