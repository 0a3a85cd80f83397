/**
 * A fake Cartesia TTS WebSocket server (PROTOCOLS.md §1): the subset voicegate uses, spoken
 * faithfully enough that the official `@cartesia/cartesia-js` SDK gets audio from it. Its
 * messages are parsed and built by protocol/cartesia.ts, the codec the Cartesia backend and
 * the drop-in front end use, so it refuses what the front end refuses and says what they read.
 *
 * - `GET /` → `{ok: true, version}`; `GET /tts/websocket` upgrades (auth and version checked
 *   on the upgrade, as the real API does).
 * - `POST /voices/clone` (cartesia-clone.ts): a clone speaks at its clip's pitch.
 * - Generation requests with `continue` / `flush` (flush_done with flush_id), `cancel`, `done`,
 *   every raw output_format (encoding × rate), base64 `chunk` messages with `step_time`.
 * - Errors in the current or the legacy shape (see {@link CartesiaErrorShape}).
 * - The shared fault vocabulary (src/sim/faults.ts), applied when a context starts.
 *
 * The audio (cartesia-voice.ts) is a deterministic voiced signal, its length proportional to
 * the transcript, so tests can check durations and formats without a model.
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Encoding } from '../audio/format.ts';
import { CARTESIA_VERSION } from '../config.ts';
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
  parseClientMessage,
  parseJsonObject,
  type CartesiaErrorShape,
  type CartesiaGeneration,
  type CartesiaHandshake,
} from '../protocol/cartesia.ts';
import { NO_FAULTS, mergeFaults, type Faults } from './faults.ts';
import { handleClone, type FakeCartesiaClone } from './cartesia-clone.ts';
import { SyntheticVoice, encode } from './cartesia-voice.ts';

export interface FakeCartesiaOptions {
  /** Port to listen on. Default 0 (an ephemeral port). */
  port?: number;
  /** Interface to bind. Default `127.0.0.1`. */
  host?: string;
  /** Serve TLS (wss://, https://) with this PEM key and certificate. Default: plain ws://. */
  tls?: { key: string; cert: string };
  /** When set, the upgrade (and `POST /voices/clone`) needs `Authorization: Bearer <key>`, `X-API-Key`, `?api_key=` or `?access_token=`; else 401. Default: no auth. */
  apiKey?: string;
  /** Release of a context's text → its first chunk, in ms. Default 150. */
  ttfaMs?: number;
  /** Wall time per second of audio after the first chunk (0.25 = 4× faster than real time). Default 0.25. */
  rtf?: number;
  /** Audio per `chunk` message, in ms. Default 40. */
  chunkMs?: number;
  /** Audio duration per transcript character, in ms. Default 60 (~16 characters per second). */
  msPerChar?: number;
  /** Audio source. Only `synthetic` exists. Default `synthetic`. */
  audio?: 'synthetic';
  /** Error message shape (protocol/cartesia.ts CartesiaErrorShape): `current`, `legacy` or `both`. Default `current`. */
  errorShape?: CartesiaErrorShape;
  /** Concurrent contexts allowed across all sockets (plan limit); beyond it → 429 error. Default unlimited. */
  maxContexts?: number;
  /** A socket with no client message for this long is closed (Cartesia: 5 min). Default 300 000. */
  idleMs?: number;
  /** Chunks sent before `die_mid_stream` / `stall_ms` strike. Default 2. */
  faultAfterChunks?: number;
  /** Value of `version` in `GET /`. Default CARTESIA_VERSION (src/config.ts), what the adapter sends. */
  version?: string;
  /** Initial faults. Default none. */
  faults?: Partial<Faults>;
  /** The account's plan includes voice cloning; false: `POST /voices/clone` answers 403. Default true. */
  cloning?: boolean;
}

export interface FakeCartesia {
  /** `ws(s)://host:port/tts/websocket`. */
  readonly url: string;
  readonly port: number;
  setFaults(patch: Partial<Faults>): void;
  faults(): Faults;
  setErrorShape(shape: CartesiaErrorShape): void;
  /** Contexts generating or waiting for input now (a hung context counts until cancelled). */
  activeContexts(): number;
  /** Most contexts active at once since start. */
  peakContexts(): number;
  /** Contexts ever started. */
  contexts(): number;
  /** Transcript characters received (what Cartesia bills). */
  characters(): number;
  /** First message of each recent context (the last 100), for checking what a client asked for. */
  requests(): readonly Record<string, unknown>[];
  /** Open WebSocket connections. */
  connections(): number;
  /** WebSocket upgrades accepted since start. */
  connectionsTotal(): number;
  /** Voices cloned through `POST /voices/clone` (cartesia-clone.ts), by id. */
  clones(): ReadonlyMap<string, FakeCartesiaClone>;
  /** Resolves once a `down` toggle has taken effect (listener closed or listening again). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

const SENTENCE_END = /[.!?。！？][\s"')\]]*$/;

interface Job {
  /** Text to speak, or null for a flush boundary. */
  text: string | null;
  flushId: number;
}

interface FakeContext {
  readonly id: string;
  /** The tail of each of its replies (codec contextSuffix). */
  readonly suffix: string;
  readonly conn: Connection;
  readonly encoding: Encoding;
  readonly sampleRate: number;
  readonly fingerprint: string;
  readonly faults: Faults;
  readonly bufferDelayMs: number;
  /** Text received but not yet released to generation (managed buffering). */
  pending: string;
  bufferTimer: NodeJS.Timeout | null;
  jobs: Job[];
  /** Current flush id (starts at 1; incremented by each flush). */
  flushId: number;
  ended: boolean;
  started: boolean;
  timer: NodeJS.Timeout | null;
  chunksSent: number;
  stalled: boolean;
  /** The job being spoken and the next sample of it. */
  job: Job | null;
  jobSample: number;
  jobSamples: number;
  readonly voice: SyntheticVoice;
}

interface Connection {
  readonly ws: WebSocket;
  readonly contexts: Map<string, FakeContext>;
  idleTimer: NodeJS.Timeout | null;
}

export async function startFakeCartesia(options: FakeCartesiaOptions = {}): Promise<FakeCartesia> {
  const host = options.host ?? '127.0.0.1';
  const ttfaMs = options.ttfaMs ?? 150;
  const rtf = options.rtf ?? 0.25;
  const chunkMs = options.chunkMs ?? 40;
  const msPerChar = options.msPerChar ?? 60;
  const idleMs = options.idleMs ?? 300_000;
  const faultAfter = options.faultAfterChunks ?? 2;
  const maxContexts = options.maxContexts ?? Infinity;
  const version = options.version ?? CARTESIA_VERSION;
  let errorShape: CartesiaErrorShape = options.errorShape ?? 'current';
  let faults = mergeFaults({ ...NO_FAULTS }, options.faults ?? {});

  let active = 0;
  let peak = 0;
  let started = 0;
  let chars = 0;
  let accepted = 0;
  const connections = new Set<Connection>();
  const recent: Record<string, unknown>[] = [];
  const sockets = new Set<Socket>();

  const clones = new Map<string, FakeCartesiaClone>();
  const onHttp = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'POST' && path === '/voices/clone') {
      const key = cartesiaKeyOf(handshakeOf(req));
      return handleClone(req, res, clones, options.apiKey === undefined || key === options.apiKey, options.cloning ?? true);
    }
    if (req.method === 'GET' && path === '/') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, version }));
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found' }));
  };
  const server: Server = options.tls ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, onHttp) : createHttpServer(onHttp);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const wss = new WebSocketServer({ noServer: true });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const handshake = handshakeOf(req);
    if (handshake.path !== '/tts/websocket') return refuseUpgrade(socket, 404, 'Not Found', 'no such endpoint');
    if (options.apiKey !== undefined && cartesiaKeyOf(handshake) !== options.apiKey) return refuseUpgrade(socket, 401, 'Unauthorized', 'invalid or missing API key');
    // The front end assumes a version when none is sent; Cartesia itself requires one.
    if (!handshake.query.get('cartesia_version') && !handshake.headers['cartesia-version']) {
      return refuseUpgrade(socket, 400, 'Bad Request', 'Cartesia-Version header or cartesia_version query parameter is required');
    }
    try {
      cartesiaVersionOf(handshake);
    } catch (err) {
      return refuseUpgrade(socket, 400, 'Bad Request', (err as Error).message);
    }
    wss.handleUpgrade(req, socket, head, (ws) => onConnection(ws));
  });

  function onConnection(ws: WebSocket): void {
    accepted++;
    const conn: Connection = { ws, contexts: new Map(), idleTimer: null };
    connections.add(conn);
    armIdle(conn);
    ws.on('message', (data, isBinary) => {
      armIdle(conn);
      if (isBinary) return sendError(conn, new CartesiaError(400, 'Invalid message', 'binary frames are not supported; send JSON text', 'invalid_request'));
      try {
        const raw = parseJsonObject(data.toString());
        const msg = parseClientMessage(raw);
        if (msg.kind === 'cancel') {
          const ctx = conn.contexts.get(msg.contextId);
          if (ctx) retire(ctx);
          return;
        }
        generate(conn, msg, raw);
      } catch (err) {
        if (!(err instanceof CartesiaError)) throw err;
        // A refused message ends its context, as Cartesia's error reply (done:true) says.
        const ctx = err.contextId === undefined ? undefined : conn.contexts.get(err.contextId);
        if (ctx) retire(ctx);
        sendError(conn, err);
      }
    });
    ws.on('close', () => {
      if (conn.idleTimer) clearTimeout(conn.idleTimer);
      for (const ctx of conn.contexts.values()) retire(ctx);
      connections.delete(conn);
    });
    ws.on('error', () => {
      /* the close handler cleans up */
    });
  }

  function armIdle(conn: Connection): void {
    if (conn.idleTimer) clearTimeout(conn.idleTimer);
    conn.idleTimer = setTimeout(() => conn.ws.close(1000, 'idle timeout'), idleMs);
    conn.idleTimer.unref();
  }

  /** A generation request: opens its context (the first message) or continues it. Throws CartesiaError. */
  function generate(conn: Connection, msg: CartesiaGeneration, raw: Record<string, unknown>): void {
    const id = msg.contextId ?? randomUUID();
    const existing = conn.contexts.get(id);
    const ctx = existing ?? openContext(conn, id, msg, raw);
    if (!ctx) return;
    if (existing && existing.ended) throw new CartesiaError(400, 'Context closed', `context ${id} already received continue:false`, 'context_closed', id);
    chars += msg.transcript.length;
    ctx.pending += msg.transcript;
    if (msg.flush || !msg.more) {
      release(ctx);
      if (msg.flush) {
        ctx.jobs.push({ text: null, flushId: ctx.flushId });
        ctx.flushId++;
      }
    } else if (ctx.bufferDelayMs === 0 || SENTENCE_END.test(ctx.pending)) {
      release(ctx);
    } else if (!ctx.bufferTimer) {
      ctx.bufferTimer = setTimeout(() => {
        ctx.bufferTimer = null;
        release(ctx);
        pump(ctx);
      }, ctx.bufferDelayMs);
    }
    if (!msg.more) ctx.ended = true;
    pump(ctx);
  }

  /** Checks what the first message of a context must carry and applies the faults; null when it was refused. */
  function openContext(conn: Connection, id: string, msg: CartesiaGeneration, raw: Record<string, unknown>): FakeContext | null {
    if (!msg.modelId) throw new CartesiaError(400, 'Invalid request', 'model_id is required', 'invalid_request', id);
    const voiceId = msg.voiceId;
    if (voiceId === undefined) throw new CartesiaError(400, 'Invalid voice', 'voice must be {mode:"id", id}, {id} or an id string', 'invalid_voice', id);
    const format = msg.format;
    if (!format) throw new CartesiaError(400, 'Invalid request', 'output_format is required', 'invalid_request', id);
    started++;
    recent.push({ ...raw });
    if (recent.length > 100) recent.shift();
    const snapshot = faults;
    if (snapshot.error_rate > 0 && Math.random() < snapshot.error_rate) {
      const status = snapshot.error_status;
      sendError(conn, new CartesiaError(status, status === 429 ? 'Too Many Requests' : 'Injected fault', `injected error ${status}`, status === 429 ? 'concurrency_limit' : 'injected_fault', id));
      return null;
    }
    if (active >= maxContexts) {
      sendError(conn, new CartesiaError(429, 'Too Many Requests', `concurrency limit of ${maxContexts} contexts reached`, 'concurrency_limit', id));
      return null;
    }
    const ctx: FakeContext = {
      id,
      suffix: contextSuffix(id),
      conn,
      encoding: format.encoding,
      sampleRate: format.sampleRate,
      fingerprint: voiceId,
      faults: snapshot,
      bufferDelayMs: msg.maxBufferDelayMs ?? DEFAULT_BUFFER_DELAY_MS,
      pending: '',
      bufferTimer: null,
      jobs: [],
      flushId: 1,
      ended: false,
      started: false,
      timer: null,
      chunksSent: 0,
      stalled: false,
      job: null,
      jobSample: 0,
      jobSamples: 0,
      voice: new SyntheticVoice(voiceId, format.sampleRate, clones.get(voiceId)?.pitchHz),
    };
    conn.contexts.set(id, ctx);
    active++;
    if (active > peak) peak = active;
    return ctx;
  }

  function release(ctx: FakeContext): void {
    if (ctx.bufferTimer) {
      clearTimeout(ctx.bufferTimer);
      ctx.bufferTimer = null;
    }
    if (ctx.pending !== '') {
      ctx.jobs.push({ text: ctx.pending, flushId: ctx.flushId });
      ctx.pending = '';
    }
  }

  /** Schedules the next step of a context unless one is scheduled or it waits for input. */
  function pump(ctx: FakeContext): void {
    if (ctx.timer || !ctx.conn.contexts.has(ctx.id)) return;
    if (ctx.faults.hang) return;
    if (!ctx.job && ctx.jobs.length === 0) {
      if (ctx.ended && ctx.pending === '') finish(ctx);
      return;
    }
    let delay = ctx.started ? chunkMs * rtf : ttfaMs;
    if (!ctx.stalled && ctx.faults.stall_ms > 0 && ctx.chunksSent === faultAfter) {
      ctx.stalled = true;
      delay += ctx.faults.stall_ms;
    }
    ctx.started = true;
    ctx.timer = setTimeout(() => step(ctx, delay), delay);
  }

  function step(ctx: FakeContext, stepTime: number): void {
    ctx.timer = null;
    if (!ctx.conn.contexts.has(ctx.id)) return;
    if (ctx.faults.die_mid_stream && ctx.chunksSent >= faultAfter) {
      ctx.conn.ws.terminate();
      return;
    }
    if (!ctx.job) {
      const job = ctx.jobs.shift()!;
      if (job.text === null) {
        send(ctx.conn, flushDoneReply(job.flushId, ctx.suffix));
        pump(ctx);
        return;
      }
      ctx.job = job;
      ctx.jobSample = 0;
      ctx.jobSamples = Math.max(1, Math.round((job.text.length * msPerChar * ctx.sampleRate) / 1000));
    }
    const job = ctx.job;
    const count = Math.min(Math.max(1, Math.round((chunkMs * ctx.sampleRate) / 1000)), ctx.jobSamples - ctx.jobSample);
    const samples = ctx.voice.render(job.text!, ctx.jobSample, count, ctx.jobSamples);
    ctx.jobSample += count;
    ctx.chunksSent++;
    send(ctx.conn, chunkReply(encode(samples, ctx.encoding).toString('base64'), stepTime, job.flushId, ctx.suffix));
    if (ctx.jobSample >= ctx.jobSamples) ctx.job = null;
    pump(ctx);
  }

  function finish(ctx: FakeContext): void {
    send(ctx.conn, doneReply(ctx.suffix));
    retire(ctx);
  }

  /** Removes a context (done, cancelled, failed or its socket closed). */
  function retire(ctx: FakeContext): void {
    if (ctx.timer) clearTimeout(ctx.timer);
    if (ctx.bufferTimer) clearTimeout(ctx.bufferTimer);
    ctx.timer = null;
    ctx.bufferTimer = null;
    if (ctx.conn.contexts.get(ctx.id) === ctx) {
      ctx.conn.contexts.delete(ctx.id);
      active--;
    }
  }

  function sendError(conn: Connection, err: CartesiaError): void {
    send(conn, errorReply(err, true, randomUUID(), errorShape));
  }

  function send(conn: Connection, frame: string): void {
    if (conn.ws.readyState === conn.ws.OPEN) conn.ws.send(frame);
  }

  let listening = Promise.resolve();
  let port = options.port ?? 0;
  const listen = (): Promise<void> =>
    new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  const stopListening = (): Promise<void> =>
    new Promise((resolve) => {
      for (const conn of connections) conn.ws.terminate();
      for (const socket of sockets) socket.destroy();
      if (!server.listening) return resolve();
      server.close(() => resolve());
    });

  if (!faults.down) await listen();
  const scheme = options.tls ? 'wss' : 'ws';
  const displayHost = host.includes(':') ? `[${host}]` : host;

  return {
    url: `${scheme}://${displayHost}:${port}/tts/websocket`,
    port,
    setFaults(patch) {
      const wasDown = faults.down;
      faults = mergeFaults(faults, patch);
      if (faults.down !== wasDown) {
        const goDown = faults.down;
        listening = listening.then(() => (goDown ? stopListening() : listen())).catch(() => undefined);
      }
    },
    faults: () => ({ ...faults }),
    setErrorShape(shape) {
      errorShape = shape;
    },
    activeContexts: () => active,
    peakContexts: () => peak,
    contexts: () => started,
    characters: () => chars,
    requests: () => recent,
    connections: () => connections.size,
    connectionsTotal: () => accepted,
    clones: () => clones,
    settled: () => listening,
    async close() {
      await listening;
      await stopListening();
      wss.close();
    },
  };
}

function refuseUpgrade(socket: Duplex, status: number, reason: string, message: string): void {
  const body = JSON.stringify({ error: message });
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The parts of an upgrade or HTTP request the codec reads (key, version), and the path. */
function handshakeOf(req: IncomingMessage): CartesiaHandshake & { path: string } {
  const url = new URL(req.url ?? '/', 'http://fake');
  return {
    path: url.pathname,
    query: url.searchParams,
    headers: {
      authorization: headerValue(req.headers.authorization),
      'x-api-key': headerValue(req.headers['x-api-key']),
      'cartesia-version': headerValue(req.headers['cartesia-version']),
    },
  };
}
