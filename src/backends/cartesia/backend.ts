/**
 * The Cartesia backend (docs/cartesia.md): the gateway's `Backend` over Cartesia's TTS
 * WebSocket. Every segment is one context on one socket shared by every session
 * (transport.ts), sent whole and streamed back (context.ts), in messages of
 * protocol/cartesia.ts. Where the caller's negotiated format is one Cartesia produces (every
 * encoding and rate of DESIGN.md §4 is), it is asked for exactly, so nothing downstream
 * resamples or re-encodes.
 */
import { randomUUID } from 'node:crypto';
import type { ClientOptions } from 'ws';
import { ENCODINGS, SAMPLE_RATES, type BackendAudio, type Encoding, type OutputFormat, type SampleRate } from '../../audio/format.ts';
import type { FallbackConfig } from '../../config.ts';
import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import { voiceField, type GenerationRequest } from '../../protocol/cartesia.ts';
import { BackendError, type Backend, type SynthesisRequest } from '../backend.ts';
import { InstanceMetrics } from '../instance-metrics.ts';
import { CartesiaContext, type CartesiaContextOwner } from './context.ts';
import { CartesiaTransport } from './transport.ts';

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

/** The output_format to ask for, and whether the result is passed through as the client's format. */
export function cartesiaOutputFormat(output: OutputFormat | undefined): { encoding: Encoding; sampleRate: SampleRate; passthrough: boolean } {
  if (output && (ENCODINGS as readonly string[]).includes(output.encoding) && (SAMPLE_RATES as readonly number[]).includes(output.sampleRate)) {
    return { encoding: output.encoding, sampleRate: output.sampleRate, passthrough: true };
  }
  return { encoding: 'pcm_s16le', sampleRate: 24000, passthrough: false };
}

export function createCartesiaBackend(config: FallbackConfig, deps: CartesiaBackendDeps): CartesiaBackend {
  return new CartesiaBackend(config, deps);
}

export class CartesiaBackend implements Backend, CartesiaContextOwner {
  readonly protocol = 'cartesia';
  /** @internal (CartesiaContextOwner) */
  readonly stats: InstanceMetrics;
  readonly #config: FallbackConfig;
  readonly #logger: Logger | undefined;
  readonly #transport: CartesiaTransport;
  /** context_id: a random prefix per backend and a counter, unique on the shared socket. */
  readonly #idPrefix = randomUUID();
  #idSeq = 0;
  #closed = false;

  constructor(config: FallbackConfig, deps: CartesiaBackendDeps) {
    this.#config = config;
    this.stats = new InstanceMetrics(deps.metrics, deps.pool ?? 'fallback', deps.instance ?? 'cartesia');
    this.#logger = deps.logger;
    const url = new URL(config.url);
    const headers: Record<string, string> = { 'Cartesia-Version': config.version };
    if (config.api_key && !url.searchParams.has('api_key')) {
      if (deps.auth === 'query') url.searchParams.set('api_key', config.api_key);
      else headers.Authorization = `Bearer ${config.api_key}`;
    }
    this.#transport = new CartesiaTransport({
      url: url.toString(),
      headers,
      wsOptions: deps.wsOptions,
      connectTimeoutMs: config.timeouts.connect_ms,
      pingIntervalMs: deps.pingIntervalMs ?? 30_000,
      logger: deps.logger,
      onConnectError: (err) => this.recordError(err),
    });
  }

  /** Contexts in flight on the shared socket. */
  get activeContexts(): number {
    return this.#transport.activeContexts;
  }

  /** Whether the shared socket is open now. */
  get connected(): boolean {
    return this.#transport.connected;
  }

  async *synthesize(req: SynthesisRequest, signal: AbortSignal): AsyncIterable<BackendAudio> {
    if (signal.aborted) throw abortedError();
    const socket = await this.#transport.connect(signal, abortedError);
    const format = cartesiaOutputFormat(req.output);
    const request: GenerationRequest = {
      model_id: this.#config.model,
      // The voice is already Cartesia's: the session core maps pool voices once (session/fallback.ts).
      voice: voiceField(req.voice, this.#config.version),
      output_format: { container: 'raw', encoding: format.encoding, sample_rate: format.sampleRate },
      context_id: `${this.#idPrefix}-${++this.#idSeq}`,
      ...(req.language ? { language: req.language.split(/[-_]/)[0].toLowerCase() } : {}),
      ...(req.speed !== undefined && req.speed !== 1 ? { generation_config: { speed: Math.min(1.5, Math.max(0.6, req.speed)) } } : {}),
      transcript: req.text,
      continue: false,
    };
    const context = new CartesiaContext(socket, request, this, signal);
    context.start();
    yield* context;
  }

  async check(signal: AbortSignal): Promise<void> {
    await this.#transport.connect(signal, abortedError);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#transport.close();
  }

  /** @internal (CartesiaContextOwner) */
  recordError(err: BackendError): void {
    // Cancellations are ours, and close() is a shutdown: neither is a fault of Cartesia.
    if (err.code === 'aborted' || this.#closed) return;
    this.stats.error(err);
    this.#logger?.warn({ kind: err.code, status: err.status, err: err.message }, 'cartesia request failed');
  }
}

function abortedError(): BackendError {
  return new BackendError('aborted', 'synthesis was cancelled');
}
