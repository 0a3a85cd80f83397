/**
 * The transport contract (DESIGN.md §3): one WebSocket + HTTP server abstraction with two
 * implementations beside it, uws.ts (uWebSockets.js) and ws.ts (node:http + ws).
 * Everything above this file is engine-agnostic; both engines run engine.common.case.ts.
 */
import type { Readable } from 'node:stream';

/** A request as seen by an upgrade or HTTP handler. Headers are lower-cased. */
export interface RequestInfo {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string>>;
  readonly remoteAddress: string;
}

/** One WebSocket connection. `T` is the per-connection state returned by `upgrade`. */
export interface Connection<T = unknown> {
  readonly data: T;
  /** Queues a frame. Returns false when the frame was dropped because the socket is closed. */
  send(data: Uint8Array | string, isBinary: boolean): boolean;
  /** Bytes queued toward the client and not yet written to the socket. */
  bufferedAmount(): number;
  /**
   * Runs `fn` with its sends coalesced into as few socket writes as the engine allows: a
   * 200 ms backend chunk cut into 20 ms frames is then one system call, not ten.
   */
  cork(fn: () => void): void;
  close(code: number, reason: string): void;
  readonly closed: boolean;
}

export type UpgradeResult<T> =
  | { readonly accept: true; readonly data: T }
  | { readonly accept: false; readonly status: number; readonly body: string; /** Seconds, sent as Retry-After. */ readonly retryAfterS?: number };

export interface WebSocketHandlers<T> {
  /** Decides synchronously whether to accept (auth, path) and builds the connection state. */
  upgrade(req: RequestInfo): UpgradeResult<T>;
  open(conn: Connection<T>): void;
  /** `data` is only valid during the call for binary frames: copy it to keep it. */
  message(conn: Connection<T>, data: string | Uint8Array, isBinary: boolean): void;
  /** The socket's send buffer emptied below the engine's threshold. */
  drain(conn: Connection<T>): void;
  close(conn: Connection<T>, code: number, reason: string): void;
}

/** A streaming HTTP response. Write the head once, then body chunks, then end. */
export interface HttpResponse {
  writeHead(status: number, headers: Readonly<Record<string, string>>): void;
  /** Returns false when the client is slow: wait for onDrain before writing more. */
  write(chunk: Uint8Array | string): boolean;
  end(chunk?: Uint8Array | string): void;
  onDrain(cb: () => void): void;
  /** The client went away before end(); abort work for it. */
  onAborted(cb: () => void): void;
  readonly aborted: boolean;
  /** writeHead was called: the status can no longer change. */
  readonly headersSent: boolean;
  /**
   * Cuts the response off (closes the connection). For a failure after the head went out:
   * the client must see a broken response, not an error spliced into a 200 body.
   */
  destroy(): void;
}

export interface HttpRoute {
  readonly method: 'GET' | 'POST' | 'OPTIONS' | 'DELETE' | 'PUT';
  /** Exact path, or a prefix ending in `/*`. */
  readonly path: string;
  /**
   * `true`: the body is read (up to the engine's max_body_bytes, else 413 and the connection is
   * closed) before the handler runs. `'stream'`: the handler gets it unread as `stream`, with
   * backpressure, and enforces its own limits (uploads far larger than max_body_bytes; they must
   * never sit in memory).
   */
  readonly body?: boolean | 'stream';
  handler(req: RequestInfo, res: HttpResponse, body: Buffer | null, stream?: Readable): void | Promise<void>;
}

export interface EngineOptions<T> {
  readonly host: string;
  readonly port: number;
  /**
   * WebSocket paths, e.g. `/v1/stream`, or patterns with `:name` segments
   * (`/v1/text-to-speech/:voice_id/stream-input`); the upgrade handler sees which one in `req.path`.
   */
  readonly wsPaths: readonly string[];
  readonly ws: WebSocketHandlers<T>;
  readonly routes: readonly HttpRoute[];
  /** Transport hard limit per WebSocket message; larger frames close the socket (1009). */
  readonly maxPayloadBytes: number;
  readonly maxBodyBytes: number;
  /**
   * The request line and headers must arrive within this (server.request_head_timeout_ms), else
   * the connection is closed. Undefined = no limit. On uws the limit is uWebSockets.js's own
   * fixed 10 s (it hands over a request only once its head is complete).
   */
  readonly headTimeoutMs?: number;
  /**
   * A body a route reads must arrive whole within this after its head
   * (server.request_body_timeout_ms), else the connection is closed. Undefined = no limit.
   */
  readonly bodyTimeoutMs?: number;
  /** Called when a route handler throws or rejects (the engine answers 500). */
  readonly onError?: (err: unknown) => void;
}

export interface Engine {
  readonly name: 'uws' | 'ws';
  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number>;
  /** Stops accepting connections; existing ones stay until closed. */
  stopListening(): Promise<void>;
  /** Closes everything, including live connections (with code 1001). */
  close(): Promise<void>;
}

export type EngineFactory = <T>(options: EngineOptions<T>) => Engine;
