/**
 * The socket half of the Cartesia backend: one WebSocket to Cartesia, shared by every context
 * of the gateway (PROTOCOLS.md §1). It opens lazily on the first `connect()`, and again on the
 * next one after Cartesia's idle close (5 min) or any drop; a ping every `pingIntervalMs`
 * notices a half-open connection between calls. Replies are routed to their context by
 * `context_id`; a reply for no registered context (a cancelled or finished one) is dropped on
 * purpose, and every context registered on a socket that closes hears `closed`.
 *
 * It knows frames and contexts, not audio: the requests and the audio belong to context.ts.
 */
import { WebSocket, type ClientOptions, type RawData } from 'ws';
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../../log.ts';
import { parseReply, replyErrorText, type CartesiaReply } from '../../protocol/cartesia.ts';
import { BackendError, raceAbort, type BackendErrorCode } from '../backend.ts';
import { kindForStatus } from '../http.ts';

export interface CartesiaTransportOptions {
  /** `wss://…/tts/websocket`, with `?api_key=` already in it when the key travels that way. */
  readonly url: string;
  /** Upgrade headers (Cartesia-Version, Authorization). */
  readonly headers: Readonly<Record<string, string>>;
  /** Extra `ws` client options (e.g. `ca`). Its headers are merged under `headers`. Default none. */
  readonly wsOptions?: ClientOptions;
  /** Longest wait for the upgrade; past it the attempt fails with code `timeout`. */
  readonly connectTimeoutMs: number;
  /** Ping period; a socket that has not answered the previous ping by the next is dropped. 0 = off. */
  readonly pingIntervalMs: number;
  /** Socket-level diagnostics (drops, undecodable frames). Default: none. */
  readonly logger?: Logger;
  /**
   * Called once per failed connect attempt, however many callers wait on it (the backend
   * counts it as one backend error). Default: none.
   */
  readonly onConnectError?: (err: BackendError) => void;
}

/** What one context hears from the socket it was registered on. */
export interface CartesiaContextSink {
  /** A reply that carries this context's id. */
  reply(reply: CartesiaReply): void;
  /** The socket went away under the context (dropped, or the transport was closed). */
  closed(err: BackendError): void;
}

/** One open socket: sends frames, and routes its replies to the contexts registered on it. */
export class CartesiaSocket {
  readonly #ws: WebSocket;
  readonly #contexts = new Map<string, CartesiaContextSink>();

  constructor(ws: WebSocket) {
    this.#ws = ws;
  }

  get open(): boolean {
    return this.#ws.readyState === WebSocket.OPEN;
  }

  /** Contexts registered and not yet finished. */
  get contexts(): number {
    return this.#contexts.size;
  }

  /** Sends one frame; false when the socket is no longer open (nothing was sent). */
  send(frame: string): boolean {
    if (!this.open) return false;
    this.#ws.send(frame);
    return true;
  }

  /** Routes replies with `contextId` to `sink` until `remove()`. */
  add(contextId: string, sink: CartesiaContextSink): void {
    this.#contexts.set(contextId, sink);
  }

  /** The context finished (done, error, cancel): later replies for it are dropped. */
  remove(contextId: string, sink: CartesiaContextSink): void {
    if (this.#contexts.get(contextId) === sink) this.#contexts.delete(contextId);
  }

  /** @internal the transport's demux: false when no context of this socket has the reply's id. */
  route(reply: CartesiaReply): boolean {
    const sink = reply.context_id === undefined ? undefined : this.#contexts.get(reply.context_id);
    if (!sink) return false;
    sink.reply(reply);
    return true;
  }

  /** @internal tells every context of this socket that it is gone; returns how many there were. */
  failAll(err: BackendError): number {
    const sinks = [...this.#contexts.values()];
    this.#contexts.clear();
    for (const sink of sinks) sink.closed(err);
    return sinks.length;
  }

  /** @internal */ get ws(): WebSocket {
    return this.#ws;
  }
}

/** BackendError code for an HTTP-like status (upgrade response or error reply `status_code`). */
export function kindForCartesiaStatus(status: number | undefined): BackendErrorCode {
  return status !== undefined && status >= 400 && status < 600 ? kindForStatus(status) : 'protocol';
}

export class CartesiaTransport {
  readonly #options: CartesiaTransportOptions;
  readonly #wsOptions: ClientOptions;
  #socket: CartesiaSocket | null = null;
  #connecting: Promise<CartesiaSocket> | null = null;
  #closed = false;

  constructor(options: CartesiaTransportOptions) {
    this.#options = options;
    this.#wsOptions = { ...options.wsOptions, headers: { ...options.wsOptions?.headers, ...options.headers }, perMessageDeflate: false };
  }

  /** Whether the shared socket is open now. */
  get connected(): boolean {
    return this.#socket?.open ?? false;
  }

  /** Contexts in flight on the shared socket. */
  get activeContexts(): number {
    return this.#socket?.contexts ?? 0;
  }

  /** The open socket, opening it if needed; concurrent callers share one attempt. */
  connect(signal: AbortSignal, abortError: () => Error): Promise<CartesiaSocket> {
    if (this.#closed) return Promise.reject(closedError());
    const socket = this.#socket;
    if (socket?.open) return Promise.resolve(socket);
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = null;
    });
    return raceAbort(this.#connecting, signal, abortError);
  }

  /** Fails every context with code `closed`, closes the socket, and refuses later connects. */
  async close(): Promise<void> {
    this.#closed = true;
    const socket = this.#socket;
    this.#socket = null;
    if (!socket) return;
    socket.failAll(closedError());
    const ws = socket.ws;
    if (ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        ws.terminate();
        resolve();
      }, 1000);
      ws.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.close(1000, 'closing');
    });
  }

  #open(): Promise<CartesiaSocket> {
    const { connectTimeoutMs, logger } = this.#options;
    return new Promise<CartesiaSocket>((resolve, reject) => {
      const ws = new WebSocket(this.#options.url, this.#wsOptions);
      let settled = false;
      const fail = (err: BackendError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.terminate();
        this.#options.onConnectError?.(err);
        reject(err);
      };
      const timer = setTimeout(() => fail(new BackendError('timeout', `no connection to Cartesia within ${connectTimeoutMs} ms`)), connectTimeoutMs);
      ws.on('unexpected-response', (req, res: IncomingMessage) => {
        const status = res.statusCode;
        res.resume();
        req.destroy();
        const kind = kindForCartesiaStatus(status);
        fail(new BackendError(kind === 'protocol' ? 'connect' : kind, `Cartesia refused the WebSocket upgrade: HTTP ${status}`, status));
      });
      ws.on('error', (err: Error & { code?: string }) => {
        if (!settled) fail(new BackendError('connect', `cannot connect to Cartesia: ${err.message}`, undefined, { cause: err }));
        else logger?.debug({ err: err.message }, 'cartesia socket error');
      });
      ws.on('open', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (this.#closed) {
          ws.close(1000, 'closing');
          reject(closedError());
          return;
        }
        const socket = new CartesiaSocket(ws);
        this.#socket = socket;
        ws.on('message', (data, isBinary) => this.#onMessage(socket, data, isBinary));
        ws.on('close', (code, reason) => this.#onClose(socket, code, reason.toString()));
        if (this.#options.pingIntervalMs > 0) this.#heartbeat(ws);
        resolve(socket);
      });
    });
  }

  #heartbeat(ws: WebSocket): void {
    let answered = true;
    ws.on('pong', () => {
      answered = true;
    });
    const timer = setInterval(() => {
      if (!answered) {
        this.#options.logger?.warn('cartesia socket did not answer a ping; dropping it');
        ws.terminate();
        return;
      }
      answered = false;
      ws.ping();
    }, this.#options.pingIntervalMs);
    timer.unref();
    ws.once('close', () => clearInterval(timer));
  }

  #onMessage(socket: CartesiaSocket, data: RawData, isBinary: boolean): void {
    const reply = isBinary ? undefined : parseReply(data.toString());
    if (!reply) {
      this.#options.logger?.warn('cartesia sent a frame that is not a JSON object; ignored');
      return;
    }
    if (socket.route(reply)) return;
    if (reply.type === 'error' && reply.context_id === undefined) {
      // An error Cartesia could not tie to a context (e.g. a frame it could not parse).
      this.#options.logger?.warn({ status: reply.status_code, err: replyErrorText(reply) }, 'cartesia error without context_id');
    }
    // Otherwise a late reply of a cancelled or finished context: dropped on purpose.
  }

  #onClose(socket: CartesiaSocket, code: number, reason: string): void {
    if (this.#socket === socket) this.#socket = null;
    const failed = socket.failAll(new BackendError('closed', `the Cartesia socket closed (${code}${reason ? ` ${reason}` : ''}) mid-stream`));
    this.#options.logger?.info({ code, reason, contexts_failed: failed }, 'cartesia socket closed');
  }
}

function closedError(): BackendError {
  return new BackendError('closed', 'the Cartesia backend was closed');
}
