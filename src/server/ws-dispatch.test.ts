/** Path patterns and the per-path WebSocket dispatch. */
import { describe, expect, it } from 'vitest';
import type { Connection, RequestInfo, WebSocketHandlers } from './engine.ts';
import { matchesPathPattern } from './routes.ts';
import { dispatchWebSockets, type Envelope } from './ws-dispatch.ts';

const req = (path: string): RequestInfo => ({ method: 'GET', path, query: new URLSearchParams(), headers: {}, remoteAddress: '127.0.0.1' });

describe('matchesPathPattern', () => {
  it('exact paths, and :name for exactly one non-empty segment', () => {
    expect(matchesPathPattern('/v1/speak', '/v1/speak')).toBe(true);
    expect(matchesPathPattern('/v1/speak', '/v1/speak/')).toBe(false);
    const p = '/v1/text-to-speech/:voice_id/stream-input';
    expect(matchesPathPattern(p, '/v1/text-to-speech/abc/stream-input')).toBe(true);
    expect(matchesPathPattern(p, '/v1/text-to-speech//stream-input')).toBe(false);
    expect(matchesPathPattern(p, '/v1/text-to-speech/a/b/stream-input')).toBe(false);
    expect(matchesPathPattern(p, '/v1/text-to-speech/abc/multi-stream-input')).toBe(false);
  });
});

describe('dispatchWebSockets', () => {
  function recorder(name: string, log: string[]): WebSocketHandlers<{ name: string }> {
    return {
      upgrade: (r) => (r.query.get('deny') ? { accept: false, status: 401, body: name } : { accept: true, data: { name } }),
      open: (conn) => log.push(`${name}:open:${conn.data.name}`),
      message: (conn, data) => {
        log.push(`${name}:message:${conn.data.name}:${String(data)}`);
        conn.send(`echo ${String(data)}`, false);
      },
      drain: (conn) => log.push(`${name}:drain:${conn.data.name}`),
      close: (conn, code) => log.push(`${name}:close:${code}`),
    };
  }

  it('routes each connection to the handlers of its path, with their own state, for its whole life', () => {
    const log: string[] = [];
    const { paths, handlers } = dispatchWebSockets([
      { paths: ['/a'], handlers: recorder('A', log) },
      { paths: ['/b/:id/x'], handlers: recorder('B', log) },
    ]);
    expect(paths).toEqual(['/a', '/b/:id/x']);
    expect(handlers.upgrade(req('/nope'))).toMatchObject({ accept: false, status: 404 });
    const decision = handlers.upgrade(req('/b/7/x'));
    if (!decision.accept) throw new Error('refused');
    const sent: string[] = [];
    const conn: Connection<Envelope> = {
      data: decision.data,
      send: (d) => (sent.push(String(d)), true),
      bufferedAmount: () => 0,
      cork: (fn) => fn(),
      close: () => {},
      closed: false,
    };
    handlers.open(conn);
    handlers.message(conn, 'hi', false);
    handlers.drain(conn);
    handlers.close(conn, 1000, '');
    expect(log).toEqual(['B:open:B', 'B:message:B:hi', 'B:drain:B', 'B:close:1000']);
    expect(sent).toEqual(['echo hi']);
  });
});
