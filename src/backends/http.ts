/**
 * Shared HTTP plumbing for the GPU adapters (openai, gradio): one keep-alive undici Pool per
 * instance, per-call cancellation, error classification into
 * BackendError codes, error-body parsing for the shapes upstream servers use, and the health
 * probe. The metrics every adapter records are in instance-metrics.ts.
 */
import { Pool, type Dispatcher } from 'undici';
import type { TimeoutsConfig } from '../config.ts';
import { AudioFormatError } from '../audio/errors.ts';
import { BackendError, type BackendErrorCode } from './backend.ts';

export interface HttpInstanceOptions {
  /** Base URL of the instance, e.g. `http://10.0.0.11:8880` (a path prefix is kept). */
  url: string;
  /** connect_ms bounds the TCP connect; first_audio_ms and stall_ms are enforced by deadline.ts. */
  timeouts: TimeoutsConfig;
  /** Idle keep-alive sockets are kept this long. Default 30 000 ms. */
  keepAliveMs?: number;
  /** Headers sent on every request (auth). Default none. */
  headers?: Record<string, string>;
}

export interface HttpRequest {
  method: 'GET' | 'POST';
  /** Path relative to the instance base URL (joined to its path prefix). */
  path: string;
  body?: string;
  headers?: Record<string, string>;
}

/** One upstream server: a keep-alive connection pool plus the base path. */
export class HttpInstance {
  readonly origin: string;
  readonly basePath: string;
  private readonly pool: Pool;
  private readonly headers: Record<string, string>;

  constructor(options: HttpInstanceOptions) {
    const url = new URL(options.url);
    this.origin = url.origin;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.headers = options.headers ?? {};
    this.pool = new Pool(this.origin, {
      connect: { timeout: options.timeouts.connect_ms },
      keepAliveTimeout: options.keepAliveMs ?? 30_000,
      // First-audio and stall deadlines are ours (deadline.ts): they know what counts as audio.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  /** Full path for a request path: base path prefix + path. */
  resolvePath(path: string): string {
    return this.basePath + (path.startsWith('/') ? path : `/${path}`);
  }

  request(req: HttpRequest, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { ...this.headers, ...req.headers };
    if (req.body !== undefined) headers['content-type'] ??= 'application/json';
    return this.pool.request({
      origin: this.origin,
      path: this.resolvePath(req.path),
      method: req.method,
      headers,
      body: req.body,
      signal,
    });
  }

  /** Requests an absolute URL on the same origin (Gradio file URLs), else `fallbackPath`. */
  requestUrl(url: string | undefined, fallbackPath: string, signal: AbortSignal, headers?: Record<string, string>): Promise<Dispatcher.ResponseData> {
    let path: string | null = null;
    if (url) {
      try {
        const parsed = new URL(url, this.origin);
        // Behind a proxy Gradio may advertise its public host; the path is what matters.
        path = parsed.pathname + parsed.search;
      } catch {
        path = null;
      }
    }
    return this.pool.request({
      origin: this.origin,
      path: path ?? this.resolvePath(fallbackPath),
      method: 'GET',
      headers: { ...this.headers, ...headers },
      signal,
    });
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}

/** Where in a call an error happened: before any response (connect) or while streaming. */
export type CallPhase = 'request' | 'stream';

/**
 * One synthesis call's cancellation: the caller's signal aborts one AbortController whose
 * signal goes to undici, so a cancelled call destroys its socket at once (the upstream sees the
 * disconnect and frees the GPU slot). Deadlines are not armed here: backends/deadline.ts arms
 * them for every adapter and aborts the caller's signal with its timeout error as the reason.
 */
export class CallSignal {
  readonly controller = new AbortController();
  /** Aborted by the caller (a cancel or a deadline): pass to every request of the call. */
  readonly signal = this.controller.signal;
  private readonly deadlines = new AbortController();
  /**
   * Aborted by a deadline only, not by a plain cancel: for a request whose answer is needed
   * even when the caller has gone (e.g. the job id that must be cancelled explicitly).
   */
  readonly deadlineSignal = this.deadlines.signal;
  private readonly onCallerAbort = (): void => this.abort();

  constructor(private readonly caller: AbortSignal) {
    if (caller.aborted) this.abort();
    else caller.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  private abort(): void {
    if (deadlineOf(this.caller.reason)) this.deadlines.abort(this.caller.reason);
    this.controller.abort(this.caller.reason);
  }

  get callerAborted(): boolean {
    return this.caller.aborted;
  }

  dispose(): void {
    this.caller.removeEventListener('abort', this.onCallerAbort);
  }

  /** Converts whatever was thrown during the call into the BackendError to report. */
  toError(err: unknown, phase: CallPhase): BackendError {
    if (this.caller.aborted) {
      // A deadline's abort carries its timeout error: the instance's metrics count it as such.
      return deadlineOf(this.caller.reason) ?? new BackendError('aborted', 'synthesis cancelled by caller', undefined, { cause: err });
    }
    return classifyError(err, phase);
  }
}

/** The timeout error a deadline aborted with, if `reason` is one. */
export function deadlineOf(reason: unknown): BackendError | undefined {
  return reason instanceof BackendError && reason.code === 'timeout' && reason.deadline !== undefined ? reason : undefined;
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'EPIPE']);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
/** The connection went away: before a response it is a connect failure, after it a cut stream. */
const DROP_CODES = new Set(['ECONNRESET', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'ECONNABORTED']);

function errorCode(err: unknown): string | undefined {
  if (!err || typeof err !== 'object') return undefined;
  const e = err as { code?: unknown; errors?: unknown[]; cause?: unknown };
  if (typeof e.code === 'string') return e.code;
  // Happy-eyeballs connects fail with an AggregateError of per-address errors.
  if (Array.isArray(e.errors) && e.errors.length > 0) return errorCode(e.errors[0]);
  if (e.cause) return errorCode(e.cause);
  return undefined;
}

/** Maps a transport error (undici, node:net) to a BackendError code. */
export function classifyError(err: unknown, phase: CallPhase): BackendError {
  if (err instanceof BackendError) return err;
  // The server's audio could not be decoded (bad WAV header, odd format).
  if (err instanceof AudioFormatError) return new BackendError('protocol', err.message, undefined, { cause: err });
  const code = errorCode(err);
  const message = (err as Error)?.message ?? String(err);
  let kind: BackendErrorCode;
  if (code && CONNECT_CODES.has(code)) kind = 'connect';
  else if (code && TIMEOUT_CODES.has(code)) kind = 'timeout';
  else if (code && DROP_CODES.has(code)) kind = phase === 'request' ? 'connect' : 'closed';
  else if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') kind = 'closed';
  else kind = phase === 'request' ? 'connect' : 'closed';
  return new BackendError(kind, code ? `${code}: ${message}` : message, undefined, { cause: err });
}

/** HTTP status → error code (429 and 5xx are retryable elsewhere; other 4xx are our fault). */
export function kindForStatus(status: number): BackendErrorCode {
  if (status === 429) return 'http_429';
  if (status >= 500) return 'http_5xx';
  return 'http_4xx';
}

/**
 * Extracts a readable message from the error bodies upstream servers send:
 * OpenAI / ChatTTS `{"error":{"message","type"}}`, `{"error":"…"}`, FastAPI / Kokoro-FastAPI
 * `{"detail":{"error","message"}}`, `{"detail":"…"}`, pydantic `{"detail":[{msg,…}]}`.
 */
export function errorMessageFromBody(text: string): string {
  const trimmed = text.trim();
  if (!trimmed) return '';
  let doc: unknown;
  try {
    doc = JSON.parse(trimmed);
  } catch {
    return trimmed.slice(0, 300);
  }
  return describe(doc).slice(0, 300);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(describe).filter(Boolean).join('; ');
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ('error' in o && o.error !== null && o.error !== undefined) {
      const inner = describe(o.error);
      return typeof o.message === 'string' && o.message !== inner ? `${inner}: ${o.message}` : inner;
    }
    if ('detail' in o) return describe(o.detail);
    if (typeof o.message === 'string') return typeof o.type === 'string' ? `${o.type}: ${o.message}` : o.message;
    if (typeof o.msg === 'string') return o.msg;
    return JSON.stringify(o);
  }
  return value === null || value === undefined ? '' : String(value);
}

/** Reads at most `limit` bytes of a body as text, then discards the rest. */
export async function readText(body: Dispatcher.ResponseData['body'], limit = 64 * 1024): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size < limit) {
      parts.push(chunk);
      size += chunk.length;
    }
  }
  return Buffer.concat(parts).subarray(0, limit).toString('utf8');
}

/** Builds the BackendError for a non-2xx response, reading its error body. */
export async function statusError(res: Dispatcher.ResponseData, what: string): Promise<BackendError> {
  let detail = '';
  try {
    detail = errorMessageFromBody(await readText(res.body));
  } catch {
    // The body could not be read; the status alone classifies the error.
  }
  const status = res.statusCode;
  return new BackendError(kindForStatus(status), `${what}: HTTP ${status}${detail ? ` ${detail}` : ''}`, status, { retryAfterMs: retryAfterMs(res.headers['retry-after']) });
}

/** Retry-After (seconds or an HTTP date) in ms; undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (text === undefined || text.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(text)) return Math.round(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Destroys a response body without waiting (idempotent; frees the socket). */
export function discard(body: Dispatcher.ResponseData['body'] | undefined): void {
  if (!body || body.destroyed) return;
  // undici reports an unread body's destruction as an 'error' event: expected here.
  body.on('error', ignore);
  body.destroy();
}

function ignore(): void {}

/** GET `path`; 2xx passes, anything else throws a classified BackendError. */
export async function healthGet(http: HttpInstance, path: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(signal.reason);
  if (signal.aborted) controller.abort(signal.reason);
  else signal.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  let res: Dispatcher.ResponseData | undefined;
  try {
    res = await http.request({ method: 'GET', path }, controller.signal);
    if (res.statusCode >= 300) throw await statusError(res, `health ${path}`);
    // Drain (small) so the keep-alive socket is reused.
    for await (const _ of res.body as AsyncIterable<Uint8Array>) void _;
  } catch (err) {
    if (err instanceof BackendError) throw err;
    if (timedOut) throw new BackendError('timeout', `health ${path}: no answer within ${timeoutMs} ms`, undefined, { cause: err });
    if (signal.aborted) throw new BackendError('aborted', 'health check cancelled', undefined, { cause: err });
    throw classifyError(err, 'request');
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
    discard(res?.body);
  }
}
