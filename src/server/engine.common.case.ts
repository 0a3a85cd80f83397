/**
 * The transport conformance suite: every Engine implementation runs it (uws.test.ts,
 * ws.test.ts), so the gateway above behaves the same on either.
 */
import { createHash } from 'node:crypto';
import { get as httpGet } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Connection, Engine, EngineOptions } from './engine.ts';

interface ConnData {
  user: string;
}

/** What differs between engines, stated once per engine. */
export interface EngineTraits {
  /**
   * How long an unfinished request head may hold a connection. ws: headTimeoutMs (checked every
   * second); uws: uWebSockets.js's own fixed 10 s, whatever headTimeoutMs says.
   */
  readonly headLimitMs: number;
  /**
   * The close code a client sees after sending invalid UTF-8 in a text frame. ws: 1007;
   * uws: 1006 — uWebSockets' C++ core closes the TCP socket before any JS handler sees the
   * message (src/WebSocketContext.h, forceClose → us_socket_close; no option changes it), so no
   * close frame is possible; the handler is told 1007 (docs/protocol.md).
   */
  readonly invalidUtf8ClientCode: 1006 | 1007;
}

/** headTimeoutMs / bodyTimeoutMs of the engine under test. */
const HEAD_TIMEOUT_MS = 1000;
const BODY_TIMEOUT_MS = 1000;

/** Opens a raw TCP connection, runs `script`, and resolves what the server answered and when it closed. */
function rawHttp(port: number, script: (socket: Socket) => void, giveUpMs: number): Promise<{ statusLine: string; closedAfterMs: number | null }> {
  return new Promise((resolve) => {
    const started = performance.now();
    let received = '';
    const socket = netConnect(port, '127.0.0.1', () => script(socket));
    socket.on('data', (d) => (received += d.toString('latin1')));
    socket.on('error', () => {});
    const giveUp = setTimeout(() => {
      socket.destroy();
      resolve({ statusLine: received.split('\r\n')[0]!, closedAfterMs: null });
    }, giveUpMs);
    socket.on('close', () => {
      clearTimeout(giveUp);
      resolve({ statusLine: received.split('\r\n')[0]!, closedAfterMs: performance.now() - started });
    });
  });
}

/** Writes `chunk` every `everyMs` until the socket closes. */
function trickle(socket: Socket, chunk: string, everyMs: number): void {
  const timer = setInterval(() => {
    if (socket.destroyed || !socket.writable) return clearInterval(timer);
    socket.write(chunk);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

export function runEngineConformance(name: string, create: <T>(options: EngineOptions<T>) => Engine, traits: EngineTraits): void {
  describe(`engine conformance: ${name}`, () => {
    let engine: Engine;
    let port: number;
    const closes: { code: number; reason: string; user: string }[] = [];
    const drains: string[] = [];
    let bigBody: Buffer;

    beforeAll(async () => {
      bigBody = Buffer.alloc(4 * 1024 * 1024, 7);
      engine = create<ConnData>({
        host: '127.0.0.1',
        port: 0,
        wsPaths: ['/v1/stream', '/v1/other'],
        maxPayloadBytes: 64 * 1024,
        maxBodyBytes: 1024,
        headTimeoutMs: HEAD_TIMEOUT_MS,
        bodyTimeoutMs: BODY_TIMEOUT_MS,
        ws: {
          upgrade(req) {
            if (req.query.get('deny')) return { accept: false, status: 401, body: '{"error":"denied"}' };
            return { accept: true, data: { user: `${req.path}:${req.query.get('user') ?? ''}:${req.headers['x-test'] ?? ''}` } };
          },
          open(conn: Connection<ConnData>) {
            conn.send(JSON.stringify({ hello: conn.data.user }), false);
          },
          message(conn, data, isBinary) {
            if (isBinary) {
              const copy = Buffer.from(data as Uint8Array);
              conn.send(copy, true);
              return;
            }
            const text = data as string;
            if (text === 'close') return conn.close(4000, 'bye');
            if (text === 'flood') {
              // 8 MiB toward a client that is not reading: bufferedAmount must show it.
              const chunk = Buffer.alloc(64 * 1024);
              for (let i = 0; i < 128; i++) conn.send(chunk, true);
              conn.send(JSON.stringify({ buffered: conn.bufferedAmount() }), false);
              return;
            }
            if (text === 'corked') {
              // As the session sends: from a timer (not inside the engine's callback), a
              // segment message, ten 20 ms frames and an end message in one cork.
              setTimeout(() =>
                conn.cork(() => {
                  conn.send('first', false);
                  for (let i = 0; i < 10; i++) conn.send(Buffer.alloc(960, i), true);
                  conn.send('last', false);
                }),
              );
              return;
            }
            conn.send(`echo:${text}`, false);
          },
          drain(conn) {
            drains.push(conn.data.user);
          },
          close(conn, code, reason) {
            closes.push({ code, reason, user: conn.data.user });
          },
        },
        routes: [
          {
            method: 'GET',
            path: '/plain',
            handler(req, res) {
              res.writeHead(200, { 'content-type': 'text/plain', 'x-path': req.path });
              res.end(`q=${req.query.get('q')};h=${req.headers['x-test'] ?? ''}`);
            },
          },
          {
            method: 'POST',
            path: '/echo',
            body: true,
            handler(_req, res, body) {
              res.writeHead(201, { 'content-type': 'application/octet-stream' });
              res.end(body ?? Buffer.alloc(0));
            },
          },
          {
            method: 'POST',
            path: '/upload',
            body: 'stream',
            async handler(_req, res, _body, stream) {
              // A slow reader (the voice library writing to disk): backpressure must hold the
              // socket rather than buffer the body, and every byte arrives in order.
              const hash = createHash('sha256');
              let bytes = 0;
              for await (const chunk of stream! as AsyncIterable<Buffer>) {
                hash.update(chunk);
                bytes += chunk.length;
                if (bytes % (1024 * 1024) < chunk.length) await new Promise((r) => setTimeout(r, 5));
              }
              res.writeHead(200, { 'content-type': 'application/json' });
              res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') }));
            },
          },
          {
            method: 'GET',
            path: '/stream',
            handler(_req, res) {
              res.writeHead(200, { 'content-type': 'application/octet-stream' });
              let sent = 0;
              const pump = () => {
                while (sent < 4) {
                  sent++;
                  if (!res.write(bigBody)) return res.onDrain(pump);
                }
                res.end();
              };
              pump();
            },
          },
          {
            method: 'GET',
            path: '/admin/*',
            handler(req, res) {
              res.writeHead(200, { 'content-type': 'text/plain' });
              res.end(`prefix:${req.path}`);
            },
          },
          {
            method: 'GET',
            path: '/boom',
            handler() {
              throw new Error('boom');
            },
          },
          {
            method: 'GET',
            path: '/boom-late',
            async handler(_req, res) {
              // A streaming handler that fails after its 200 and some audio went out.
              res.writeHead(200, { 'content-type': 'application/octet-stream' });
              res.write('partial');
              await new Promise((resolve) => setTimeout(resolve, 20));
              throw new Error('boom after the head');
            },
          },
        ],
      });
      port = await engine.listen();
    });

    afterAll(async () => {
      await engine.close();
    });

    const url = (path: string) => `http://127.0.0.1:${port}${path}`;

    function connect(path: string, headers: Record<string, string> = {}): Promise<{ ws: WebSocket; first: string }> {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers });
        ws.once('message', (data) => resolve({ ws, first: String(data) }));
        ws.once('error', reject);
      });
    }

    const next = (ws: WebSocket) =>
      new Promise<{ data: Buffer; isBinary: boolean }>((resolve) => ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })));

    it('reports its name', () => {
      expect(engine.name).toBe(name);
    });

    it('serves an HTTP route with query and lower-cased headers', async () => {
      const res = await fetch(url('/plain?q=42'), { headers: { 'X-Test': 'yes' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('x-path')).toBe('/plain');
      expect(await res.text()).toBe('q=42;h=yes');
    });

    it('reads a POST body and answers with the status given', async () => {
      const res = await fetch(url('/echo'), { method: 'POST', body: 'hello body' });
      expect(res.status).toBe(201);
      expect(await res.text()).toBe('hello body');
    });

    it('refuses a body over the limit with 413', async () => {
      const res = await fetch(url('/echo'), { method: 'POST', body: 'x'.repeat(5000) });
      expect(res.status).toBe(413);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('body_too_large');
    });

    it('hands a streamed body to its route unread, far over max_body_bytes, byte-exact', async () => {
      const body = Buffer.alloc(6 * 1024 * 1024);
      for (let i = 0; i < body.length; i += 4) body.writeUInt32LE(i, i);
      const res = await fetch(url('/upload'), { method: 'POST', body });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    });

    it('answers 404 for an unknown path and 405 for a known path with another method', async () => {
      expect((await fetch(url('/nope'))).status).toBe(404);
      expect((await fetch(url('/plain'), { method: 'POST', body: '' })).status).toBe(405);
    });

    it('puts an x-request-id on its own answers (404, 413, 500): the caller\'s if sane, else a new UUID', async () => {
      const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
      expect((await fetch(url('/nope'), { headers: { 'x-request-id': 'req-404' } })).headers.get('x-request-id')).toBe('req-404');
      expect((await fetch(url('/nope'), { headers: { 'x-request-id': 'bad id<>' } })).headers.get('x-request-id')).toMatch(uuid);
      const tooLarge = await fetch(url('/echo'), { method: 'POST', body: Buffer.alloc(2048), headers: { 'x-request-id': 'req-413' } });
      expect(tooLarge.status).toBe(413);
      expect(tooLarge.headers.get('x-request-id')).toBe('req-413');
      const boom = await fetch(url('/boom'));
      expect(boom.status).toBe(500);
      expect(boom.headers.get('x-request-id')).toMatch(uuid);
    });

    it('matches prefix routes', async () => {
      const res = await fetch(url('/admin/instances/x/drain'));
      expect(await res.text()).toBe('prefix:/admin/instances/x/drain');
    });

    it('answers 500 when a handler throws, and keeps serving', async () => {
      expect((await fetch(url('/boom'))).status).toBe(500);
      expect((await fetch(url('/plain?q=1'))).status).toBe(200);
    });

    it('cuts a streamed response off when its handler fails after the head, and keeps serving', async () => {
      const outcome = await new Promise<{ status: number; body: string; complete: boolean }>((resolve, reject) => {
        const req = httpGet(url('/boom-late'), (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          // 'close' comes after 'end' (a clean finish) or after the connection died.
          res.on('close', () => resolve({ status: res.statusCode ?? 0, body, complete: res.complete }));
          res.on('error', () => {});
        });
        req.on('error', reject);
      });
      expect(outcome.status).toBe(200);
      expect(outcome.body).toBe('partial');
      expect(outcome.complete).toBe(false);
      expect((await fetch(url('/plain?q=2'))).status).toBe(200);
    });

    it('streams a large response with backpressure, byte-exact', async () => {
      const res = await fetch(url('/stream'));
      const body = Buffer.from(await res.arrayBuffer());
      expect(body.length).toBe(4 * bigBody.length);
      expect(body.every((b) => b === 7)).toBe(true);
    });

    it('upgrades on each WebSocket path with the state from upgrade()', async () => {
      const a = await connect('/v1/stream?user=ann', { 'x-test': 'h' });
      expect(JSON.parse(a.first)).toEqual({ hello: '/v1/stream:ann:h' });
      const b = await connect('/v1/other?user=bob');
      expect(JSON.parse(b.first)).toEqual({ hello: '/v1/other:bob:' });
      a.ws.close();
      b.ws.close();
    });

    it('rejects an upgrade with the status chosen', async () => {
      const status = await new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream?deny=1`);
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => {});
      });
      expect(status).toBe(401);
    });

    it('passes text and binary frames both ways', async () => {
      const { ws } = await connect('/v1/stream?user=t');
      ws.send('ping');
      const text = await next(ws);
      expect(text.isBinary).toBe(false);
      expect(String(text.data)).toBe('echo:ping');
      ws.send(Buffer.from([1, 2, 3, 250]));
      const bin = await next(ws);
      expect(bin.isBinary).toBe(true);
      expect([...bin.data]).toEqual([1, 2, 3, 250]);
      ws.close();
    });

    it('delivers sends made inside cork() in order, text and binary alike', async () => {
      const { ws } = await connect('/v1/stream?user=cork');
      const got: string[] = [];
      const done = new Promise<void>((resolve) =>
        ws.on('message', (data: Buffer, isBinary: boolean) => {
          got.push(isBinary ? `bin${data.length}:${data[0]}:${data[959]}` : String(data));
          if (!isBinary && String(data) === 'last') resolve();
        }),
      );
      ws.send('corked');
      await done;
      expect(got).toEqual(['first', ...Array.from({ length: 10 }, (_, i) => `bin960:${i}:${i}`), 'last']);
      ws.close();
    });

    it('closes with the code and reason given, and reports the close', async () => {
      const { ws } = await connect('/v1/stream?user=closer');
      const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
      ws.send('close');
      expect(await closed).toEqual({ code: 4000, reason: 'bye' });
      await expect.poll(() => closes.some((c) => c.user === '/v1/stream:closer:')).toBe(true);
    });

    it('reports a client close to the handler', async () => {
      const { ws } = await connect('/v1/stream?user=leaver');
      ws.close(1000, 'done');
      await expect.poll(() => closes.find((c) => c.user === '/v1/stream:leaver:')?.code).toBe(1000);
    });

    it('shows buffered bytes toward a slow client and reports drain', async () => {
      const { ws } = await connect('/v1/stream?user=slow');
      const raw = (ws as unknown as { _socket: Socket })._socket;
      raw.pause();
      ws.send('flood');
      await new Promise((r) => setTimeout(r, 200));
      raw.resume();
      const messages: { buffered?: number }[] = [];
      await new Promise<void>((resolve) => {
        ws.on('message', (data, isBinary) => {
          if (!isBinary) {
            messages.push(JSON.parse(String(data)));
            resolve();
          }
        });
      });
      expect(messages[0]!.buffered).toBeGreaterThan(0);
      await expect.poll(() => drains.includes('/v1/stream:slow:'), { timeout: 5000 }).toBe(true);
      ws.close();
    });

    it('closes the socket on a frame over the transport limit', async () => {
      const { ws } = await connect('/v1/stream?user=big');
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      ws.send('x'.repeat(100 * 1024));
      // ws sends 1009; uWS drops the connection without a close frame (1006).
      expect([1006, 1009]).toContain(await closed);
      await expect.poll(() => closes.some((c) => c.user === '/v1/stream:big:')).toBe(true);
    });

    it('closes a connection after a 413 instead of reading the rest of a 50 MiB body', async () => {
      let written = 0;
      const outcome = await rawHttp(
        port,
        (socket) => {
          socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 52428800\r\n\r\n');
          const chunk = Buffer.alloc(64 * 1024, 1);
          const pump = () => {
            while (!socket.destroyed && written < 50 * 1024 * 1024) {
              written += chunk.length;
              if (!socket.write(chunk)) return void socket.once('drain', pump);
            }
          };
          pump();
        },
        10_000,
      );
      expect(outcome.statusLine).toMatch(/^HTTP\/1\.1 413/);
      expect(outcome.closedAfterMs).not.toBeNull();
      // Closed long before the client could push 50 MiB through.
      expect(written).toBeLessThan(40 * 1024 * 1024);
    });

    it('closes a connection whose body never comes (Content-Length then silence) within the body timeout', async () => {
      const outcome = await rawHttp(port, (socket) => socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nabc'), 10_000);
      expect(outcome.closedAfterMs).not.toBeNull();
      expect(outcome.closedAfterMs!).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
      expect(outcome.closedAfterMs!).toBeLessThan(BODY_TIMEOUT_MS + 3000);
      expect(outcome.statusLine).toMatch(/^HTTP\/1\.1 408/);
    });

    it('closes a connection whose chunked body trickles on past the body timeout', async () => {
      const outcome = await rawHttp(
        port,
        (socket) => {
          socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
          trickle(socket, '1\r\na\r\n', 100); // 10 bytes a second: under max_body_bytes for 100 s
        },
        10_000,
      );
      expect(outcome.closedAfterMs).not.toBeNull();
      expect(outcome.closedAfterMs!).toBeLessThan(BODY_TIMEOUT_MS + 3000);
    });

    it('still takes a body that arrives in time in several pieces', async () => {
      const outcome = await new Promise<string>((resolve) => {
        let received = '';
        const socket = netConnect(port, '127.0.0.1', () => {
          socket.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nConnection: close\r\n\r\nabc');
          setTimeout(() => socket.write('def'), 300);
        });
        socket.on('data', (d) => (received += d.toString()));
        socket.on('close', () => resolve(received));
        socket.on('error', () => {});
      });
      expect(outcome).toMatch(/^HTTP\/1\.1 201/);
      expect(outcome).toContain('abcdef');
    });

    it('closes a connection whose request head never completes, even when it trickles', async () => {
      const [silent, trickled] = await Promise.all([
        rawHttp(port, (socket) => socket.write('GET /plain HTTP/1.1\r\nHost: x\r\n'), traits.headLimitMs + 5000),
        rawHttp(
          port,
          (socket) => {
            socket.write('GET /plain HTTP/1.1\r\nHost: x\r\n');
            trickle(socket, 'X-Slow: 1\r\n', 300);
          },
          traits.headLimitMs + 5000,
        ),
      ]);
      expect(silent.closedAfterMs).not.toBeNull();
      expect(trickled.closedAfterMs).not.toBeNull();
      expect(silent.closedAfterMs!).toBeLessThan(traits.headLimitMs + 3000);
      expect(trickled.closedAfterMs!).toBeLessThan(traits.headLimitMs + 3000);
    }, 30_000);

    it('closes a socket that sends invalid UTF-8 in a text frame, and tells the handler 1007', async () => {
      const { ws } = await connect('/v1/stream?user=badutf8');
      const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
      ws.send(Buffer.from([0x68, 0xff, 0xfe, 0x69]), { binary: false });
      expect(await closed).toBe(traits.invalidUtf8ClientCode);
      await expect.poll(() => closes.find((c) => c.user === '/v1/stream:badutf8:')?.code).toBe(1007);
    });
  });
}
