/**
 * The Cartesia fallback (PROTOCOLS.md §1): one WebSocket to Cartesia shared by every session
 * of the gateway, one context per segment multiplexed over it.
 *
 * - `synthesize()` sends a single generation request (transcript + `continue:false`) on a
 *   fresh context and streams its chunks; aborting sends `{context_id, cancel:true}` at once
 *   and drops whatever of that context still arrives.
 * - `openContext()` is the streaming form for turn-based use: push text as it comes
 *   (`continue:true`), flush, end.
 * - The socket opens lazily and reopens lazily after Cartesia's idle close (5 min) or any
 *   drop; contexts in flight on a dropped socket fail with kind `closed`.
 * - Where the caller's negotiated format is one Cartesia produces (every encoding and rate of
 *   DESIGN.md §4 is), it is asked for exactly, so nothing downstream resamples or re-encodes.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { WebSocket, type ClientOptions, type RawData } from 'ws';
import type { IncomingMessage } from 'node:http';
import { ENCODINGS, SAMPLE_RATES, bytesPerSample, type BackendAudio, type Encoding, type OutputFormat, type SampleRate } from '../audio/format.ts';
import type { FallbackConfig } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { BackendError, raceAbort, type Backend, type BackendErrorCode, type SynthesisRequest } from './backend.ts';
import { deadlineOf, kindForStatus } from './http.ts';
import { InstanceMetrics } from './instance-metrics.ts';

export interface CartesiaBackendDeps {
  metrics: Metrics;
  /** Default: no logging. */
  logger?: Logger;
  /** `pool` label of this backend's metrics. Default `fallback`. */
  pool?: string;
  /** `instance` label of this backend's metrics (and the provider name). Default `cartesia`. */
  instance?: string;
  /**
   * Where the API key travels: `header` (`Authorization: Bearer`, current SDKs) or `query`
   * (`?api_key=`, older SDKs and proxies that strip headers). Default `header`. A key already in
   * `fallback.url` is left as it is.
   */
  auth?: 'header' | 'query';
  /** Extra `ws` client options (e.g. `ca` to trust a private CA). Default none. */
  wsOptions?: ClientOptions;
  /**
   * WebSocket ping period; a socket that has not answered the previous ping by the next one is
   * dropped (a half-open TCP connection would otherwise only show as a timeout on the next
   * segment). 0 = off. Default 30 000.
   */
  pingIntervalMs?: number;
}

export interface OpenContextRequest extends Omit<SynthesisRequest, 'text'> {
  /**
   * Cartesia's managed buffering for pushed text (0–5000 ms). Default: Cartesia's own default
   * (3000 ms in current versions). 0 generates each push at once: push whole phrases then.
   */
  readonly maxBufferDelayMs?: number;
}

/** One Cartesia context, streamed: text in as it comes, audio out as it is produced. */
export interface CartesiaContextStream {
  readonly contextId: string;
  /** Appends text (`continue:true`). Chunks are concatenated verbatim: keep spaces. */
  push(text: string): void;
  /** Asks Cartesia to speak everything pushed so far now (`flush:true`). */
  flush(): void;
  /** Last input (`continue:false`); the audio ends after it. */
  end(text?: string): void;
  /** Cancels the context; the audio iterator stops with kind `aborted`. Idempotent. */
  cancel(): void;
  /** The audio, once. Breaking out of it cancels the context if it is not done. */
  readonly audio: AsyncIterable<BackendAudio>;
}

export interface CartesiaBackendEvents {
  connected: [];
  disconnected: [{ code: number; reason: string; contextsFailed: number }];
}

/** The output_format to ask for, and whether the result is passed through as the client's format. */
export function cartesiaOutputFormat(output: OutputFormat | undefined): { encoding: Encoding; sampleRate: SampleRate; passthrough: boolean } {
  if (output && (ENCODINGS as readonly string[]).includes(output.encoding) && (SAMPLE_RATES as readonly number[]).includes(output.sampleRate)) {
    return { encoding: output.encoding, sampleRate: output.sampleRate, passthrough: true };
  }
  return { encoding: 'pcm_s16le', sampleRate: 24000, passthrough: false };
}

/** BackendError kind for an HTTP-like status (upgrade response or error message status_code). */
export function kindForCartesiaStatus(status: number | undefined): BackendErrorCode {
  return status !== undefined && status >= 400 && status < 600 ? kindForStatus(status) : 'protocol';
}

interface ServerMessage {
  type?: string;
  context_id?: string;
  data?: string;
  status_code?: number;
  done?: boolean;
  flush_id?: number;
  // error, both shapes
  title?: string;
  message?: string;
  error_code?: string;
  error?: string;
}

export function createCartesiaBackend(config: FallbackConfig, deps: CartesiaBackendDeps): CartesiaBackend {
  return new CartesiaBackend(config, deps);
}

export class CartesiaBackend extends EventEmitter<CartesiaBackendEvents> implements Backend {
  readonly protocol = 'cartesia';
  readonly #config: FallbackConfig;
  readonly #stats: InstanceMetrics;
  readonly #logger: Logger | undefined;
  readonly #url: string;
  readonly #wsOptions: ClientOptions;
  readonly #contexts = new Map<string, CartesiaContext>();
  readonly #idPrefix = randomUUID();
  #idSeq = 0;
  #ws: WebSocket | null = null;
  #connecting: Promise<WebSocket> | null = null;
  #closed = false;
  readonly #pingIntervalMs: number;

  constructor(config: FallbackConfig, deps: CartesiaBackendDeps) {
    super();
    this.#config = config;
    this.#stats = new InstanceMetrics(deps.metrics, deps.pool ?? 'fallback', deps.instance ?? 'cartesia');
    this.#logger = deps.logger;
    const url = new URL(config.url);
    const headers: Record<string, string> = { 'Cartesia-Version': config.version };
    if (config.api_key && !url.searchParams.has('api_key')) {
      if (deps.auth === 'query') url.searchParams.set('api_key', config.api_key);
      else headers.Authorization = `Bearer ${config.api_key}`;
    }
    this.#url = url.toString();
    this.#pingIntervalMs = deps.pingIntervalMs ?? 30_000;
    this.#wsOptions = { ...deps.wsOptions, headers: { ...deps.wsOptions?.headers, ...headers }, perMessageDeflate: false };
  }

  /** Contexts in flight on the shared socket. */
  get activeContexts(): number {
    return this.#contexts.size;
  }

  /** Whether the shared socket is open now. */
  get connected(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  async *synthesize(req: SynthesisRequest, signal: AbortSignal): AsyncIterable<BackendAudio> {
    const stream = await this.openContext(req, signal);
    stream.end(req.text);
    yield* stream.audio;
  }

  async openContext(req: OpenContextRequest, signal: AbortSignal): Promise<CartesiaContextStream> {
    if (signal.aborted) throw abortedError();
    const ws = await this.#connect(signal);
    const format = cartesiaOutputFormat(req.output);
    // The voice is already Cartesia's: the session core maps pool voices once (session/fallback.ts).
    const voiceId = req.voice;
    const base: Record<string, unknown> = {
      model_id: this.#config.model,
      // 2026-08-14 made the voice a plain `{id}`; earlier versions want the `mode` form.
      voice: this.#config.version >= '2026-08-14' ? { id: voiceId } : { mode: 'id', id: voiceId },
      output_format: { container: 'raw', encoding: format.encoding, sample_rate: format.sampleRate },
      context_id: `${this.#idPrefix}-${++this.#idSeq}`,
    };
    if (req.language) base.language = req.language.split(/[-_]/)[0].toLowerCase();
    if (req.speed !== undefined && req.speed !== 1) base.generation_config = { speed: Math.min(1.5, Math.max(0.6, req.speed)) };
    if (req.maxBufferDelayMs !== undefined) base.max_buffer_delay_ms = req.maxBufferDelayMs;
    const ctx = new CartesiaContext(this, ws, base, format, signal);
    this.#contexts.set(ctx.contextId, ctx);
    return ctx;
  }

  async check(signal: AbortSignal): Promise<void> {
    await this.#connect(signal);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const ws = this.#ws;
    this.#ws = null;
    this.#failAll(new BackendError('closed', 'the Cartesia backend was closed'));
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
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


  /** @internal: a context finished (done, error, cancel); late messages for it are dropped. */
  forget(ctx: CartesiaContext): void {
    if (this.#contexts.get(ctx.contextId) === ctx) this.#contexts.delete(ctx.contextId);
  }

  /** @internal */ get stats(): InstanceMetrics {
    return this.#stats;
  }

  /** @internal */ recordError(err: BackendError): void {
    // Cancellations are ours, and close() is a shutdown: neither is a fault of Cartesia.
    if (err.code === 'aborted' || this.#closed) return;
    this.#stats.error(err);
    this.#logger?.warn({ kind: err.code, status: err.status, err: err.message }, 'cartesia request failed');
  }

  #connect(signal: AbortSignal): Promise<WebSocket> {
    if (this.#closed) return Promise.reject(new BackendError('closed', 'the Cartesia backend was closed'));
    const ws = this.#ws;
    if (ws && ws.readyState === WebSocket.OPEN) return Promise.resolve(ws);
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = null;
    });
    return raceAbort(this.#connecting, signal, abortedError);
  }

  #open(): Promise<WebSocket> {
    return new Promise<WebSocket>((resolve, reject) => {
      const ws = new WebSocket(this.#url, this.#wsOptions);
      let settled = false;
      const fail = (err: BackendError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.terminate();
        this.recordError(err);
        reject(err);
      };
      const timer = setTimeout(() => fail(new BackendError('timeout', `no connection to Cartesia within ${this.#config.timeouts.connect_ms} ms`)), this.#config.timeouts.connect_ms);
      ws.on('unexpected-response', (req, res: IncomingMessage) => {
        const status = res.statusCode;
        res.resume();
        req.destroy();
        const kind = kindForCartesiaStatus(status);
        fail(new BackendError(kind === 'protocol' ? 'connect' : kind, `Cartesia refused the WebSocket upgrade: HTTP ${status}`, status));
      });
      ws.on('error', (err: Error & { code?: string }) => {
        if (!settled) fail(new BackendError('connect', `cannot connect to Cartesia: ${err.message}`, undefined, { cause: err }));
        else this.#logger?.debug({ err: err.message }, 'cartesia socket error');
      });
      ws.on('open', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (this.#closed) {
          ws.close(1000, 'closing');
          reject(new BackendError('closed', 'the Cartesia backend was closed'));
          return;
        }
        this.#ws = ws;
        ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
        ws.on('close', (code, reason) => this.#onClose(ws, code, reason.toString()));
        if (this.#pingIntervalMs > 0) this.#heartbeat(ws);
        this.emit('connected');
        resolve(ws);
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
        this.#logger?.warn('cartesia socket did not answer a ping; dropping it');
        ws.terminate();
        return;
      }
      answered = false;
      ws.ping();
    }, this.#pingIntervalMs);
    timer.unref();
    ws.once('close', () => clearInterval(timer));
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    let msg: ServerMessage;
    try {
      if (isBinary) throw new Error('binary frame');
      msg = JSON.parse(data.toString()) as ServerMessage;
    } catch {
      this.#logger?.warn('cartesia sent a frame that is not JSON; ignored');
      return;
    }
    const id = msg.context_id;
    const ctx = id === undefined ? undefined : this.#contexts.get(id);
    if (ctx) {
      ctx.onMessage(msg);
      return;
    }
    if (msg.type === 'error' && id === undefined) {
      // An error Cartesia could not tie to a context (e.g. a frame it could not parse).
      this.#logger?.warn({ status: msg.status_code, err: errorText(msg) }, 'cartesia error without context_id');
    }
    // Otherwise a late message of a cancelled or finished context: dropped on purpose.
  }

  #onClose(ws: WebSocket, code: number, reason: string): void {
    if (this.#ws === ws) this.#ws = null;
    const failed = this.#failAll(new BackendError('closed', `the Cartesia socket closed (${code}${reason ? ` ${reason}` : ''}) mid-stream`), ws);
    this.#logger?.info({ code, reason, contexts_failed: failed }, 'cartesia socket closed');
    this.emit('disconnected', { code, reason, contextsFailed: failed });
  }

  #failAll(err: BackendError, ws?: WebSocket): number {
    let failed = 0;
    for (const ctx of [...this.#contexts.values()]) {
      if (ws && ctx.ws !== ws) continue;
      ctx.fail(err, false);
      failed++;
    }
    return failed;
  }
}

type State = 'open' | 'done' | 'failed';

/** One context on the shared socket: its sends and its audio queue (deadlines: deadline.ts). */
class CartesiaContext implements CartesiaContextStream, AsyncIterator<BackendAudio>, AsyncIterable<BackendAudio> {
  readonly contextId: string;
  readonly ws: WebSocket;
  readonly audio: AsyncIterable<BackendAudio> = this;
  readonly #backend: CartesiaBackend;
  readonly #base: Record<string, unknown>;
  readonly #encoding: Encoding;
  readonly #sampleRate: number;
  readonly #pcm: boolean;
  readonly #sampleBytes: number;
  readonly #signal: AbortSignal;
  readonly #onAbort: () => void;
  #state: State = 'open';
  #error: BackendError | null = null;
  #queue: BackendAudio[] = [];
  #waiter: { resolve: (r: IteratorResult<BackendAudio>) => void; reject: (e: unknown) => void } | null = null;
  /** An incomplete sample carried to the next chunk (chunks need not align to samples). */
  #carry: Buffer | null = null;
  #ended = false;
  #startedAt = 0;
  #gotAudio = false;
  #audioSamples = 0;
  #singleShot = false;

  constructor(backend: CartesiaBackend, ws: WebSocket, base: Record<string, unknown>, format: { encoding: Encoding; sampleRate: number; passthrough: boolean }, signal: AbortSignal) {
    this.#backend = backend;
    this.ws = ws;
    this.#base = base;
    this.contextId = base.context_id as string;
    this.#encoding = format.encoding;
    this.#sampleRate = format.sampleRate;
    this.#pcm = format.encoding === 'pcm_s16le';
    this.#sampleBytes = bytesPerSample(format.encoding);
    this.#signal = signal;
    // A deadline (backends/deadline.ts) aborts with its timeout error: count it as such.
    this.#onAbort = () => this.fail(deadlineOf(signal.reason) ?? new BackendError('aborted', 'synthesis was cancelled'), true);
    signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<BackendAudio> {
    return this;
  }

  push(text: string): void {
    if (!this.#ended) this.#send(text, true, false);
  }

  flush(): void {
    if (this.#ended) return;
    this.#send('', true, true);
  }

  end(text = ''): void {
    if (this.#ended) return;
    if (this.#startedAt === 0) this.#singleShot = true;
    this.#ended = true;
    this.#send(text, false, false);
  }

  cancel(): void {
    this.fail(new BackendError('aborted', 'synthesis was cancelled'), true);
  }

  next(): Promise<IteratorResult<BackendAudio>> {
    if (this.#queue.length > 0) return Promise.resolve({ value: this.#queue.shift()!, done: false });
    if (this.#state === 'failed') return Promise.reject(this.#error);
    if (this.#state === 'done') return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<BackendAudio>> {
    if (this.#state === 'open') this.cancel();
    this.#queue.length = 0;
    return Promise.resolve({ value: undefined, done: true });
  }

  onMessage(msg: ServerMessage): void {
    switch (msg.type) {
      case 'chunk':
        if (typeof msg.data === 'string') this.#onChunk(msg.data);
        else this.fail(new BackendError('protocol', 'Cartesia sent a chunk without data'), true);
        return;
      case 'flush_done':
        return;
      case 'done':
        this.#finish();
        return;
      case 'error': {
        const kind = kindForCartesiaStatus(msg.status_code);
        this.fail(new BackendError(kind, `Cartesia error ${msg.status_code ?? '?'}: ${errorText(msg)}`, msg.status_code), false);
        return;
      }
      default:
        // timestamps, phoneme_timestamps and future types carry no audio.
        return;
    }
  }

  /** Ends the context with an error; `cancelUpstream` tells Cartesia to stop generating it. */
  fail(err: BackendError, cancelUpstream: boolean): void {
    if (this.#state !== 'open') return;
    this.#state = 'failed';
    this.#error = err;
    this.#release();
    if (cancelUpstream && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ context_id: this.contextId, cancel: true }));
    this.#backend.recordError(err);
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      this.#queue.length = 0;
      waiter.reject(err);
    } else if (err.code === 'aborted') {
      this.#queue.length = 0;
    }
  }

  #send(text: string, more: boolean, flush: boolean): void {
    if (this.#state !== 'open') return;
    if (this.ws.readyState !== WebSocket.OPEN) {
      this.fail(new BackendError('closed', 'the Cartesia socket closed before the request was sent'), false);
      return;
    }
    if (this.#startedAt === 0 && text !== '') this.#startedAt = performance.now();
    const message: Record<string, unknown> = { ...this.#base, transcript: text, continue: more };
    if (flush) message.flush = true;
    this.ws.send(JSON.stringify(message));
  }

  #onChunk(data: string): void {
    if (this.#state !== 'open') return;
    let bytes = Buffer.from(data, 'base64');
    if (this.#carry) {
      bytes = Buffer.concat([this.#carry, bytes]);
      this.#carry = null;
    }
    const whole = bytes.length - (bytes.length % this.#sampleBytes);
    if (whole !== bytes.length) {
      this.#carry = Buffer.from(bytes.subarray(whole));
      bytes = bytes.subarray(0, whole);
    }
    if (whole === 0) return;
    const samples = whole / this.#sampleBytes;
    if (!this.#gotAudio) {
      this.#gotAudio = true;
      if (this.#startedAt > 0) this.#backend.stats.firstAudio((performance.now() - this.#startedAt) / 1000);
    }
    this.#audioSamples += samples;
    let audio: BackendAudio;
    if (this.#pcm) {
      // Int16Array needs an even byte offset; base64 decoding into Node's pool may give an odd one.
      const aligned = (bytes.byteOffset & 1) === 0 ? bytes : Buffer.from(bytes);
      audio = { samples: new Int16Array(aligned.buffer, aligned.byteOffset, samples), sampleRate: this.#sampleRate };
    } else {
      audio = { encoding: this.#encoding, sampleRate: this.#sampleRate, bytes };
    }
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      waiter.resolve({ value: audio, done: false });
    } else {
      this.#queue.push(audio);
    }
  }

  #finish(): void {
    if (this.#state !== 'open') return;
    this.#state = 'done';
    this.#release();
    if (this.#singleShot && this.#audioSamples > 0 && this.#startedAt > 0) {
      const elapsed = (performance.now() - this.#startedAt) / 1000;
      this.#backend.stats.finished(elapsed, this.#audioSamples / this.#sampleRate);
    }
    const waiter = this.#waiter;
    if (waiter) {
      this.#waiter = null;
      waiter.resolve({ value: undefined, done: true });
    }
  }

  #release(): void {
    this.#signal.removeEventListener('abort', this.#onAbort);
    this.#backend.forget(this);
  }

}

function errorText(msg: ServerMessage): string {
  if (typeof msg.error === 'string') return msg.error;
  const parts = [msg.title, msg.message].filter((s): s is string => typeof s === 'string' && s !== '');
  if (msg.error_code) parts.push(`(${msg.error_code})`);
  return parts.length > 0 ? parts.join(': ') : 'unknown error';
}

function abortedError(): BackendError {
  return new BackendError('aborted', 'synthesis was cancelled');
}
