/**
 * The transport alone, against a bare `ws` server on loopback that sends whatever the test
 * says: routing by context_id, late and stray replies, drops, shared connects, close.
 * (Upgrade refusals, connect timeouts and pings run through the backend: backend.test.ts.)
 */
import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import type { CartesiaReply } from '../../protocol/cartesia.ts';
import { BackendError } from '../backend.ts';
import { CartesiaTransport, type CartesiaContextSink, type CartesiaTransportOptions } from './transport.ts';

let server: WebSocketServer | undefined;
let transport: CartesiaTransport | undefined;

afterEach(async () => {
  await transport?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
  transport = undefined;
});

/** A server that keeps its sockets for the test to write to, and counts what it is sent. */
async function start(): Promise<{ url: string; sockets: WebSocket[]; received: string[] }> {
  const sockets: WebSocket[] = [];
  const received: string[] = [];
  server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  server.on('connection', (ws) => {
    sockets.push(ws);
    ws.on('message', (data) => received.push(data.toString()));
  });
  await new Promise((resolve) => server!.once('listening', resolve));
  return { url: `ws://127.0.0.1:${(server.address() as { port: number }).port}/tts/websocket`, sockets, received };
}

function open(url: string, options: Partial<CartesiaTransportOptions> = {}): CartesiaTransport {
  transport = new CartesiaTransport({ url, headers: { 'Cartesia-Version': '2025-04-16' }, connectTimeoutMs: 1000, pingIntervalMs: 0, ...options });
  return transport;
}

function sink(): CartesiaContextSink & { replies: CartesiaReply[]; errors: BackendError[] } {
  const replies: CartesiaReply[] = [];
  const errors: BackendError[] = [];
  return { replies, errors, reply: (r) => replies.push(r), closed: (e) => errors.push(e) };
}

async function until(predicate: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 2));
  }
}

const aborted = () => new BackendError('aborted', 'cancelled');
const signal = () => new AbortController().signal;

describe('cartesia transport', () => {
  it('routes each reply to its context; stray, late and undecodable frames reach no one', async () => {
    const { url, sockets, received } = await start();
    const t = open(url);
    const socket = await t.connect(signal(), aborted);
    const a = sink();
    const b = sink();
    socket.add('a', a);
    socket.add('b', b);
    expect(t.activeContexts).toBe(2);
    expect(socket.send('{"hello":1}')).toBe(true);
    const peer = sockets[0];
    for (const frame of ['{"type":"chunk","context_id":"a","data":"AA=="}', '{"type":"chunk","context_id":"b","data":"AQ=="}', '{"type":"done","context_id":"zzz"}', 'not json', '{"type":"done","context_id":"a"}']) peer.send(frame);
    await until(() => a.replies.length === 2 && b.replies.length === 1);
    expect(a.replies.map((r) => r.type)).toEqual(['chunk', 'done']);
    expect(b.replies).toEqual([{ type: 'chunk', context_id: 'b', data: 'AQ==' }]);
    socket.remove('a', a);
    peer.send('{"type":"chunk","context_id":"a","data":"AA=="}');
    peer.send('{"type":"done","context_id":"b"}');
    await until(() => b.replies.length === 2);
    expect(a.replies).toHaveLength(2);
    expect(t.activeContexts).toBe(1);
    expect(received).toEqual(['{"hello":1}']);
  });

  it('a dropped socket fails its contexts with closed, and the next connect opens another', async () => {
    const { url, sockets } = await start();
    const t = open(url);
    const first = await t.connect(signal(), aborted);
    const a = sink();
    first.add('a', a);
    sockets[0].terminate();
    await until(() => a.errors.length === 1);
    expect(a.errors[0].code).toBe('closed');
    expect(t.connected).toBe(false);
    expect(t.activeContexts).toBe(0);
    expect(first.send('{}')).toBe(false);
    const second = await t.connect(signal(), aborted);
    expect(second).not.toBe(first);
    expect(sockets).toHaveLength(2);
  });

  it('callers connecting at once share one socket; a failed attempt is reported once', async () => {
    const { url, sockets } = await start();
    const t = open(url);
    const all = await Promise.all([1, 2, 3].map(() => t.connect(signal(), aborted)));
    expect(new Set(all).size).toBe(1);
    expect(sockets).toHaveLength(1);

    // A port nothing listens on: refused.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    const failures: BackendError[] = [];
    const refused = new CartesiaTransport({ url: `ws://127.0.0.1:${port}/`, headers: {}, connectTimeoutMs: 1000, pingIntervalMs: 0, onConnectError: (e) => failures.push(e) });
    const results = await Promise.allSettled([1, 2, 3].map(() => refused.connect(signal(), aborted)));
    expect(results.every((r) => r.status === 'rejected' && (r.reason as BackendError).code === 'connect')).toBe(true);
    expect(failures).toHaveLength(1);
    await refused.close();
  });

  it('an abort ends the wait for a connect, not the connect', async () => {
    const { url, sockets } = await start();
    const t = open(url);
    const controller = new AbortController();
    const waiting = t.connect(controller.signal, aborted);
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'aborted' });
    await until(() => t.connected);
    expect(sockets).toHaveLength(1);
  });

  it('close() fails the contexts in flight and refuses later connects', async () => {
    const { url } = await start();
    const t = open(url);
    const socket = await t.connect(signal(), aborted);
    const a = sink();
    socket.add('a', a);
    await t.close();
    expect(a.errors.map((e) => e.code)).toEqual(['closed']);
    expect(t.connected).toBe(false);
    await expect(t.connect(signal(), aborted)).rejects.toMatchObject({ code: 'closed' });
  });
});
