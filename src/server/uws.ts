/**
 * Transport engine on uWebSockets.js (optional dependency under the alias `uWebSockets.js`).
 *
 * The registry republish we install swaps in a JavaScript imitation, with a console warning,
 * when its native binary does not load. We want the real thing or nothing: loadUws() only
 * returns the module when App is a native function, and the caller falls back to `ws`.
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import type { Connection, Engine, EngineOptions, HttpResponse, RequestInfo } from './engine.ts';
import { answerHandlerFailure, bodyTimedOut, bodyTooLarge, createRouteTable, requestIdOf, routeMiss } from './routes.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- uWS ships loose typings under an alias */
type Uws = any;

const require = createRequire(import.meta.url);
let cached: { uws: Uws | null; reason: string } | undefined;

/** The native uWebSockets.js module, or null with the reason it is unavailable. */
export function loadUws(): { uws: Uws | null; reason: string } {
  if (cached) return cached;
  const warn = console.warn;
  const log = console.log;
  let said = '';
  console.warn = (...args: unknown[]) => (said += args.join(' ') + ' ');
  console.log = (...args: unknown[]) => (said += args.join(' ') + ' ');
  try {
    const uws = require('uWebSockets.js');
    const native = typeof uws?.App === 'function' && Function.prototype.toString.call(uws.App).includes('[native code]');
    cached = native ? { uws, reason: 'native binary loaded' } : { uws: null, reason: `native binary not loaded: ${said.trim().split('\n')[0] || 'JavaScript imitation'}` };
  } catch (err) {
    cached = { uws: null, reason: `not installed: ${(err as Error).message.split('\n')[0]}` };
  } finally {
    console.warn = warn;
    console.log = log;
  }
  return cached;
}

const decoder = new TextDecoder();
/** The reason uWS gives when it drops a socket for a text frame that is not UTF-8. */
const UWS_INVALID_UTF8 = 'Received invalid UTF-8';

function readRequest(req: Uws, res: Uws): RequestInfo {
  const headers: Record<string, string> = {};
  req.forEach((key: string, value: string) => {
    headers[key] = value;
  });
  return {
    method: String(req.getMethod()).toUpperCase(),
    path: req.getUrl(),
    query: new URLSearchParams(req.getQuery() ?? ''),
    headers,
    remoteAddress: decoder.decode(res.getRemoteAddressAsText()),
  };
}

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK', 201: '201 Created', 204: '204 No Content', 400: '400 Bad Request', 401: '401 Unauthorized',
  403: '403 Forbidden', 404: '404 Not Found', 405: '405 Method Not Allowed', 408: '408 Request Timeout', 413: '413 Payload Too Large',
  415: '415 Unsupported Media Type', 422: '422 Unprocessable Entity', 429: '429 Too Many Requests',
  500: '500 Internal Server Error', 502: '502 Bad Gateway', 503: '503 Service Unavailable', 504: '504 Gateway Timeout',
};
const statusLine = (status: number) => STATUS_TEXT[status] ?? `${status} Status`;

class UwsHttpResponse implements HttpResponse {
  aborted = false;
  headersSent = false;
  private finished = false;
  private abortHandlers: (() => void)[] = [];
  private drainHandlers: (() => void)[] = [];

  constructor(private readonly res: Uws) {
    res.onAborted(() => {
      this.aborted = true;
      for (const cb of this.abortHandlers) cb();
    });
  }

  writeHead(status: number, headers: Readonly<Record<string, string>>): void {
    if (this.aborted) return;
    this.headersSent = true;
    this.res.cork(() => {
      this.res.writeStatus(statusLine(status));
      for (const [k, v] of Object.entries(headers)) if (k !== 'content-length') this.res.writeHeader(k, v);
    });
  }

  write(chunk: Uint8Array | string): boolean {
    if (this.aborted || this.finished) return true;
    let ok = true;
    this.res.cork(() => {
      ok = this.res.write(chunk);
    });
    if (!ok && this.drainHandlers.length === 0) {
      this.res.onWritable(() => {
        const handlers = this.drainHandlers;
        this.drainHandlers = [];
        for (const cb of handlers) cb();
        return true;
      });
    }
    return ok;
  }

  /** `closeConnection`: close the connection once the response is written (uWS's own flag). */
  end(chunk?: Uint8Array | string, closeConnection = false): void {
    if (this.aborted || this.finished) return;
    this.finished = true;
    this.res.cork(() => this.res.end(chunk ?? '', closeConnection));
  }

  /** The response ended (or was cut off): uWS forbids touching it any more. */
  get done(): boolean {
    return this.aborted || this.finished;
  }

  destroy(): void {
    if (this.aborted || this.finished) return;
    this.finished = true;
    this.res.close();
  }

  onDrain(cb: () => void): void {
    this.drainHandlers.push(cb);
  }

  onAborted(cb: () => void): void {
    this.abortHandlers.push(cb);
  }
}

interface UwsUserData<T> {
  data: T;
  conn?: UwsConnection<T>;
}

class UwsConnection<T> implements Connection<T> {
  closed = false;
  constructor(
    private readonly ws: Uws,
    readonly data: T,
  ) {}

  send(data: Uint8Array | string, isBinary: boolean): boolean {
    if (this.closed) return false;
    // 0 = queued with backpressure, 1 = sent, 2 = dropped (over maxBackpressure).
    return this.ws.send(data, isBinary, false) !== 2;
  }

  bufferedAmount(): number {
    return this.closed ? 0 : this.ws.getBufferedAmount();
  }

  cork(fn: () => void): void {
    // Outside uWS's own callbacks every send is a write(2) unless corked.
    if (this.closed) fn();
    else this.ws.cork(fn);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.ws.end(code, reason);
  }
}

/**
 * The request body as a Readable with backpressure: uWS pauses the socket while the reader
 * is behind and resumes when it asks for more. An aborted request errors the stream.
 */
function bodyStream(res: Uws, response: UwsHttpResponse): Readable {
  let paused = false;
  const stream = new Readable({
    highWaterMark: 256 * 1024,
    read() {
      if (paused && !response.done) {
        paused = false;
        res.resume();
      }
    },
  });
  res.onData((chunk: ArrayBuffer, isLast: boolean) => {
    // uWS reuses the chunk's memory after this callback returns.
    // After an early answer (413) the rest is read and dropped; pausing is no longer allowed.
    if (!stream.push(Buffer.from(chunk.slice(0))) && !isLast && !paused && !response.done) {
      paused = true;
      res.pause();
    }
    if (isLast) stream.push(null);
  });
  response.onAborted(() => stream.destroy(new Error('request aborted')));
  return stream;
}

export function createUwsEngine<T>(options: EngineOptions<T>): Engine {
  const { uws, reason } = loadUws();
  if (!uws) throw new Error(`uWebSockets.js unavailable (${reason})`);
  const routes = createRouteTable(options.routes);
  const connections = new Set<UwsConnection<T>>();
  const app = uws.App();
  let listenSocket: unknown = null;

  const behavior = {
    maxPayloadLength: options.maxPayloadBytes,
    // Above this the engine drops frames; the session's own backpressure limit is far lower.
    maxBackpressure: 16 * 1024 * 1024,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    compression: 0,
    upgrade(res: Uws, req: Uws, context: Uws) {
      const info = readRequest(req, res);
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const decision = options.ws.upgrade(info);
      if (!decision.accept) {
        res.cork(() => {
          res.writeStatus(statusLine(decision.status)).writeHeader('content-type', 'application/json');
          if (decision.retryAfterS !== undefined) res.writeHeader('retry-after', String(decision.retryAfterS));
          res.end(decision.body);
        });
        return;
      }
      const userData: UwsUserData<T> = { data: decision.data };
      res.upgrade(userData, key, protocol, extensions, context);
    },
    open(ws: Uws) {
      const userData = ws.getUserData() as UwsUserData<T>;
      const conn = new UwsConnection(ws, userData.data);
      userData.conn = conn;
      connections.add(conn);
      options.ws.open(conn);
    },
    message(ws: Uws, message: ArrayBuffer, isBinary: boolean) {
      const conn = (ws.getUserData() as UwsUserData<T>).conn!;
      if (isBinary) options.ws.message(conn, new Uint8Array(message), true);
      else options.ws.message(conn, decoder.decode(message), false);
    },
    drain(ws: Uws) {
      options.ws.drain((ws.getUserData() as UwsUserData<T>).conn!);
    },
    close(ws: Uws, code: number, message: ArrayBuffer) {
      const conn = (ws.getUserData() as UwsUserData<T>).conn!;
      conn.closed = true;
      connections.delete(conn);
      const reason = decoder.decode(message);
      // uWS drops a socket that sent invalid UTF-8 without a close frame (the client sees 1006):
      // its C++ core checks every text message before any JS handler runs and closes the TCP
      // socket (uNetworking/uWebSockets src/WebSocketContext.h, handleFragment → forceClose →
      // us_socket_close); no option skips it, so 1007 on the wire is impossible here. The
      // handler is told what it was, as on the ws engine: 1007 (invalid frame payload data).
      options.ws.close(conn, code === 1006 && reason === UWS_INVALID_UTF8 ? 1007 : code, reason);
    },
  };
  for (const path of options.wsPaths) app.ws(path, behavior);

  app.any('/*', (res: Uws, req: Uws) => {
    const info = readRequest(req, res);
    const route = routes.find(info.method, info.path);
    if (!route) {
      const miss = routeMiss(routes, info);
      res.cork(() => res.writeStatus(statusLine(miss.status)).writeHeader('content-type', 'application/json').writeHeader('x-request-id', requestIdOf(info)).end(miss.body));
      return;
    }
    const response = new UwsHttpResponse(res);
    const fail = (err: unknown) => {
      options.onError?.(err);
      answerHandlerFailure(info, response);
    };
    const run = (body: Buffer | null, stream?: Readable) => {
      try {
        const result = route.handler(info, response, body, stream);
        if (result) result.catch(fail);
      } catch (err) {
        fail(err);
      }
    };
    if (!route.body) return run(null);
    if (route.body === 'stream') return run(null, bodyStream(res, response));
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    // A body that never ends (a 10 GB Content-Length, a trickle) must not hold the connection.
    const bodyTimer =
      options.bodyTimeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            if (done || response.aborted) return;
            done = true;
            response.writeHead(408, { 'content-type': 'application/json', connection: 'close', 'x-request-id': requestIdOf(info) });
            response.end(bodyTimedOut(options.bodyTimeoutMs!), true);
          }, options.bodyTimeoutMs);
    bodyTimer?.unref?.();
    response.onAborted(() => clearTimeout(bodyTimer));
    res.onData((chunk: ArrayBuffer, isLast: boolean) => {
      if (done) return;
      size += chunk.byteLength;
      if (size > options.maxBodyBytes) {
        done = true;
        clearTimeout(bodyTimer);
        // Answer and close: reading the rest (maybe 50 MiB) would only serve the sender.
        response.writeHead(413, { 'content-type': 'application/json', connection: 'close', 'x-request-id': requestIdOf(info) });
        response.end(bodyTooLarge(options.maxBodyBytes), true);
        return;
      }
      // uWS reuses the chunk's memory after this callback returns.
      chunks.push(Buffer.from(chunk.slice(0)));
      if (isLast) {
        done = true;
        clearTimeout(bodyTimer);
        run(Buffer.concat(chunks));
      }
    });
  });

  return {
    name: 'uws',
    listen() {
      return new Promise((resolve, reject) => {
        app.listen(options.host, options.port, (socket: unknown) => {
          if (!socket) return reject(new Error(`uWebSockets.js could not listen on ${options.host}:${options.port}`));
          listenSocket = socket;
          resolve(uws.us_socket_local_port(socket));
        });
      });
    },
    async stopListening() {
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = null;
    },
    async close() {
      if (listenSocket) uws.us_listen_socket_close(listenSocket);
      listenSocket = null;
      for (const conn of connections) conn.close(1001, 'server shutting down');
      if (typeof app.close === 'function') app.close();
    },
  };
}
