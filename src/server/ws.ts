/** Transport engine on node:http + the `ws` package: the portable one, always available. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Connection, Engine, EngineOptions, HttpResponse, RequestInfo } from './engine.ts';
import { answerHandlerFailure, bodyTimedOut, bodyTooLarge, createRouteTable, matchesPathPattern, requestIdOf, routeMiss } from './routes.ts';

function requestInfo(req: IncomingMessage): RequestInfo {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(', ') : value;
  }
  return {
    method: req.method ?? 'GET',
    path: q === -1 ? url : url.slice(0, q),
    query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)),
    headers,
    remoteAddress: req.socket.remoteAddress ?? '',
  };
}

class WsConnection<T> implements Connection<T> {
  closed = false;
  /** A send filled the socket buffer: report the next drain. */
  awaitingDrain = false;
  constructor(
    readonly socket: WebSocket,
    private readonly raw: Socket,
    readonly data: T,
  ) {}

  send(data: Uint8Array | string, isBinary: boolean): boolean {
    if (this.closed) return false;
    this.socket.send(data, { binary: isBinary });
    if (this.raw.writableNeedDrain) this.awaitingDrain = true;
    return true;
  }

  bufferedAmount(): number {
    return this.socket.bufferedAmount;
  }

  cork(fn: () => void): void {
    // ws writes each frame as header + payload; corked, they leave in one writev.
    this.raw.cork();
    try {
      fn();
    } finally {
      this.raw.uncork();
    }
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.socket.close(code, reason);
  }
}

class NodeHttpResponse implements HttpResponse {
  aborted = false;
  private finished = false;
  private abortHandlers: (() => void)[] = [];

  constructor(private readonly res: ServerResponse) {
    res.on('close', () => {
      if (!this.finished) {
        this.aborted = true;
        for (const cb of this.abortHandlers) cb();
      }
    });
  }

  writeHead(status: number, headers: Readonly<Record<string, string>>): void {
    if (this.aborted) return;
    this.res.writeHead(status, headers);
    // Streamed audio must leave at once, not wait for Nagle.
    this.res.socket?.setNoDelay(true);
  }

  write(chunk: Uint8Array | string): boolean {
    if (this.aborted) return true;
    return this.res.write(chunk);
  }

  get headersSent(): boolean {
    return this.res.headersSent;
  }

  end(chunk?: Uint8Array | string): void {
    if (this.aborted || this.finished) return;
    this.finished = true;
    if (chunk === undefined) this.res.end();
    else this.res.end(chunk);
  }

  destroy(): void {
    if (this.aborted || this.finished) return;
    this.res.destroy();
  }

  onDrain(cb: () => void): void {
    this.res.once('drain', cb);
  }

  onAborted(cb: () => void): void {
    this.abortHandlers.push(cb);
  }
}

export function createWsEngine<T>(options: EngineOptions<T>): Engine {
  const routes = createRouteTable(options.routes);
  const sockets = new Set<Socket>();
  const connections = new Set<WsConnection<T>>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes, perMessageDeflate: false });

  // node:http checks these every connectionsCheckingInterval (default 30 s: too coarse here).
  const head = options.headTimeoutMs ?? 0;
  const body = options.bodyTimeoutMs ?? 0;
  const timeouts = {
    headersTimeout: head,
    // The whole request: head plus body. 0 = none (node's own 300 s default would apply otherwise).
    requestTimeout: head > 0 && body > 0 ? head + body : 0,
    connectionsCheckingInterval: Math.max(100, Math.min(1000, head || 1000, body || 1000)),
  };
  const server = createServer(timeouts, (req, res) => {
    const info = requestInfo(req);
    const route = routes.find(info.method, info.path);
    if (!route) {
      const miss = routeMiss(routes, info);
      res.writeHead(miss.status, { 'content-type': 'application/json', 'x-request-id': requestIdOf(info) }).end(miss.body);
      return;
    }
    const response = new NodeHttpResponse(res);
    const run = (body: Buffer | null, stream?: IncomingMessage) => {
      try {
        const result = route.handler(info, response, body, stream);
        if (result) result.catch((err) => fail(err));
      } catch (err) {
        fail(err);
      }
    };
    const fail = (err: unknown) => {
      options.onError?.(err);
      answerHandlerFailure(info, response);
    };
    if (!route.body) return run(null);
    if (route.body === 'stream') return run(null, req);
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    // The body alone must arrive within bodyTimeoutMs (requestTimeout above also bounds it).
    const bodyTimer =
      options.bodyTimeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            if (req.complete || tooLarge) return;
            tooLarge = true; // ignore whatever still arrives
            // `connection: close`: node ends the socket once this is written.
            res.writeHead(408, { 'content-type': 'application/json', connection: 'close', 'x-request-id': requestIdOf(info) });
            res.end(bodyTimedOut(options.bodyTimeoutMs!));
          }, options.bodyTimeoutMs);
    bodyTimer?.unref?.();
    req.once('close', () => clearTimeout(bodyTimer));
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > options.maxBodyBytes) {
        tooLarge = true;
        clearTimeout(bodyTimer);
        // `connection: close`: node ends the socket once the answer is written, rather than
        // reading the rest of the body (maybe 50 MiB) to keep the connection alive.
        res.writeHead(413, { 'content-type': 'application/json', connection: 'close', 'x-request-id': requestIdOf(info) });
        res.end(bodyTooLarge(options.maxBodyBytes));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      clearTimeout(bodyTimer);
      if (!tooLarge) run(Buffer.concat(chunks));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  server.on('upgrade', (req, socket, head) => {
    const info = requestInfo(req);
    if (!options.wsPaths.some((pattern) => matchesPathPattern(pattern, info.path))) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    const decision = options.ws.upgrade(info);
    if (!decision.accept) {
      const body = Buffer.from(decision.body);
      const retryAfter = decision.retryAfterS === undefined ? '' : `retry-after: ${decision.retryAfterS}\r\n`;
      socket.end(`HTTP/1.1 ${decision.status} Rejected\r\ncontent-type: application/json\r\n${retryAfter}connection: close\r\ncontent-length: ${body.length}\r\n\r\n${decision.body}`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      // ws exposes no drain event; the raw socket's drain is the signal.
      const raw = (ws as unknown as { _socket: Socket })._socket;
      raw.setNoDelay(true);
      const conn = new WsConnection(ws, raw, decision.data);
      connections.add(conn);
      ws.on('message', (data, isBinary) => {
        if (isBinary) {
          const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
          options.ws.message(conn, buf, true);
        } else {
          options.ws.message(conn, data.toString(), false);
        }
      });
      let invalidUtf8 = false;
      ws.on('close', (code, reason) => {
        conn.closed = true;
        connections.delete(conn);
        // ws sent 1007 but, without the client's answering close frame, reports 1006 here.
        options.ws.close(conn, code === 1006 && invalidUtf8 ? 1007 : code, reason.toString());
      });
      ws.on('error', (err: Error & { code?: string }) => {
        // 'close' follows; a protocol error (e.g. oversized frame) is reported there.
        if (err.code === 'WS_ERR_INVALID_UTF8') invalidUtf8 = true;
      });
      raw.on('drain', () => {
        if (!conn.awaitingDrain) return;
        conn.awaitingDrain = false;
        options.ws.drain(conn);
      });
      options.ws.open(conn);
    });
  });

  let listening = false;
  return {
    name: 'ws',
    listen() {
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.host, () => {
          server.off('error', reject);
          listening = true;
          const address = server.address();
          resolve(typeof address === 'object' && address ? address.port : options.port);
        });
      });
    },
    stopListening() {
      if (!listening) return Promise.resolve();
      listening = false;
      // Stop accepting now; live calls and in-flight responses carry on (close() ends them).
      server.close();
      server.closeIdleConnections();
      return Promise.resolve();
    },
    async close() {
      for (const conn of connections) conn.close(1001, 'server shutting down');
      if (listening) {
        listening = false;
        server.close();
      }
      wss.close();
      await new Promise((r) => setTimeout(r, 20));
      for (const socket of sockets) socket.destroy();
    },
  };
}
