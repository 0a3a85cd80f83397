/**
 * One engine, several WebSocket protocols: the native `/v1/stream` and the drop-in front ends
 * (Cartesia, ElevenLabs, Deepgram) each bring their own handlers; this picks them by path at
 * the upgrade and hands every later event of that connection to the same handlers.
 *
 * Each protocol keeps its own connection state type. The engine's connection carries a small
 * envelope (which handlers, their state, and a view of the connection typed for them), built
 * once per connection, so a message costs a few property reads more than a direct binding and
 * no allocation.
 */
import type { Connection, RequestInfo, UpgradeResult, WebSocketHandlers } from './engine.ts';
import { matchesPathPattern } from './routes.ts';

export interface WebSocketRoute {
  /** Exact paths or `:name` patterns (engine.ts wsPaths). */
  readonly paths: readonly string[];
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- each route has its own state type
  readonly handlers: WebSocketHandlers<any>;
}

export interface Envelope {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly handlers: WebSocketHandlers<any>;
  readonly state: unknown;
  view: Connection | null;
}

/** The inner handlers' view of the engine's connection: same socket, their own state. */
function viewOf(conn: Connection<Envelope>): Connection {
  const envelope = conn.data;
  if (envelope.view) return envelope.view;
  const view: Connection = {
    data: envelope.state,
    send: (data, isBinary) => conn.send(data, isBinary),
    bufferedAmount: () => conn.bufferedAmount(),
    cork: (fn) => conn.cork(fn),
    close: (code, reason) => conn.close(code, reason),
    get closed() {
      return conn.closed;
    },
  };
  envelope.view = view;
  return view;
}

const NOT_FOUND = JSON.stringify({ error: { message: 'no WebSocket protocol at this path', type: 'invalid_request_error', param: null, code: 'not_found' } });

export function dispatchWebSockets(routes: readonly WebSocketRoute[]): { paths: string[]; handlers: WebSocketHandlers<Envelope> } {
  const paths = routes.flatMap((r) => r.paths);
  const find = (path: string) => routes.find((r) => r.paths.some((p) => matchesPathPattern(p, path)));
  return {
    paths,
    handlers: {
      upgrade(req: RequestInfo): UpgradeResult<Envelope> {
        const route = find(req.path);
        if (!route) return { accept: false, status: 404, body: NOT_FOUND };
        const decision = route.handlers.upgrade(req);
        if (!decision.accept) return decision;
        return { accept: true, data: { handlers: route.handlers, state: decision.data, view: null } };
      },
      open: (conn) => conn.data.handlers.open(viewOf(conn)),
      message: (conn, data, isBinary) => conn.data.handlers.message(viewOf(conn), data, isBinary),
      drain: (conn) => conn.data.handlers.drain(viewOf(conn)),
      close: (conn, code, reason) => conn.data.handlers.close(viewOf(conn), code, reason),
    },
  };
}
