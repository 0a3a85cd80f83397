/**
 * One fake GPU instance: an HTTP listener on a loopback port speaking one protocol, with
 * stream admission (comfortable / max concurrency), paced audio per the latency model and
 * fault injection (faults.ts). Protocol handlers (openai-server.ts, gradio-server.ts) only
 * translate; the timing and the faults live here so every protocol behaves alike.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pcm } from '../audio/format.ts';
import { NO_FAULTS, mergeFaults, type Faults } from './faults.ts';
import { DEFAULT_LATENCY, scaledWait, type LatencyModel } from './latency.ts';
import type { AudioSource } from './audio.ts';
import type { ClonedVoice } from './signature.ts';

/**
 * - `openai`: Kokoro-FastAPI-like `POST /v1/audio/speech` (pcm, streamed WAV with size 0),
 *   `{"detail":{…}}` errors, `GET /health`.
 * - `chattts`: ChatTTS `openai_api`-like (streamed WAV with sizes 0xFFFFFFFF when
 *   `stream: true`, `{"error":{message,type}}` errors, `GET /health` → {status, model_loaded}).
 * - `gradio`: hexgrad Kokoro-TTS Space on Gradio 5 (API under `/gradio_api`).
 * - `gradio4`: the same app on Gradio 4 (no API prefix, `/file=` URLs).
 */
export const SIM_PROTOCOLS = ['openai', 'chattts', 'gradio', 'gradio4'] as const;
export type SimProtocol = (typeof SIM_PROTOCOLS)[number];

/** How many received requests an instance remembers (received()). */
export const RECEIVED_KEPT = 64;

export type RequestHandler = (req: IncomingMessage, res: ServerResponse, instance: SimInstance) => void;

export interface SimInstanceOptions {
  id: string;
  protocol: SimProtocol;
  audio: AudioSource;
  handler: RequestHandler;
  /** Port to listen on; 0 = any free port (kept across stop/start). Default 0. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  latency?: Partial<LatencyModel>;
  faults?: Partial<Faults>;
}

/** A synthesis stream admitted on the instance (holds one of its `max` slots). */
export interface SimStream {
  /** Faults in force when the request arrived. */
  readonly faults: Faults;
  /** Frees the slot (idempotent). */
  release(): void;
}

export interface StreamSink {
  /** Sends samples to the client; a promise when the socket wants a drain first. */
  write(samples: Int16Array): void | Promise<void>;
  /** Cuts the connection (die_mid_stream). */
  die(): void;
}

export type StreamOutcome = 'done' | 'aborted' | 'died';

export interface SimInstanceSnapshot {
  id: string;
  protocol: SimProtocol;
  url: string;
  up: boolean;
  active_streams: number;
  requests: number;
  refused: number;
  faults: Faults;
  /** Names of the voices uploaded since the last start. */
  cloned_voices: string[];
}

export class SimInstance {
  readonly id: string;
  readonly protocol: SimProtocol;
  readonly audio: AudioSource;
  readonly latency: LatencyModel;
  private faultState: Faults;
  private server: Server | null = null;
  private port: number;
  private readonly host: string;
  private readonly handler: RequestHandler;
  /**
   * Voices uploaded to this instance (vLLM-Omni's voice API, signature.ts). Held in memory
   * only: a restart forgets them, as a real server's does.
   */
  readonly clonedVoices = new Map<string, ClonedVoice>();
  /** The last RECEIVED_KEPT synthesis requests as received, oldest first (received()). */
  private readonly receivedLog: Record<string, unknown>[] = [];
  private active = 0;
  /** Most streams served at once since start or resetPeak(). */
  private peak = 0;
  private total = 0;
  private refusedCount = 0;
  /** Serialises listener transitions (down/up) so racing setFaults calls settle in order. */
  private transition: Promise<void> = Promise.resolve();

  constructor(options: SimInstanceOptions) {
    this.id = options.id;
    this.protocol = options.protocol;
    this.audio = options.audio;
    this.handler = options.handler;
    this.port = options.port ?? 0;
    this.host = options.host ?? '127.0.0.1';
    this.latency = { ...DEFAULT_LATENCY, ...options.latency };
    this.faultState = mergeFaults({ ...NO_FAULTS }, options.faults ?? {});
  }

  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  get up(): boolean {
    return this.server !== null;
  }

  get faults(): Faults {
    return this.faultState;
  }

  activeStreams(): number {
    return this.active;
  }

  /** Most streams this instance served at once since start or the last resetPeak(). */
  peakStreams(): number {
    return this.peak;
  }

  resetPeak(): void {
    this.peak = this.active;
  }

  requests(): number {
    return this.total;
  }

  /**
   * What the last synthesis requests asked for, oldest first (at most RECEIVED_KEPT): the JSON
   * body of `POST /v1/audio/speech` (a reference clip shown by its length), or a Gradio job's
   * `{api_name, data}`. Lets a test assert what the gateway sent (speed, instructions, voice).
   */
  received(): readonly Record<string, unknown>[] {
    return this.receivedLog;
  }

  /** Called by the protocol handlers with each synthesis request they parsed. */
  recordReceived(request: Record<string, unknown>): void {
    this.receivedLog.push(request);
    if (this.receivedLog.length > RECEIVED_KEPT) this.receivedLog.shift();
  }

  refused(): number {
    return this.refusedCount;
  }

  snapshot(): SimInstanceSnapshot {
    return {
      id: this.id,
      protocol: this.protocol,
      url: this.url,
      up: this.up,
      active_streams: this.active,
      requests: this.total,
      refused: this.refusedCount,
      faults: { ...this.faultState },
      cloned_voices: [...this.clonedVoices.keys()],
    };
  }

  /** Changes faults; `down` closes or reopens the listener (resolves once done). */
  setFaults(patch: Partial<Faults>): Promise<void> {
    this.faultState = mergeFaults(this.faultState, patch);
    if (patch.down === true) return this.stop();
    if (patch.down === false) return this.start();
    return this.transition;
  }

  /** Opens the listener (same port as before after a stop). */
  start(): Promise<void> {
    this.faultState = { ...this.faultState, down: false };
    this.transition = this.transition.then(() => this.listen());
    return this.transition;
  }

  /** Crashes the listener: refuses connections and cuts every open one. */
  stop(): Promise<void> {
    this.faultState = { ...this.faultState, down: true };
    this.transition = this.transition.then(() => this.shutdown());
    return this.transition;
  }

  /**
   * Admits a synthesis request: counts it, and takes a slot unless `max` are busy (null:
   * the caller answers `latency.over_capacity_status`).
   */
  admit(): SimStream | null {
    this.total++;
    if (this.active >= this.latency.max) {
      this.refusedCount++;
      return null;
    }
    this.active++;
    if (this.active > this.peak) this.peak = this.active;
    let held = true;
    return {
      faults: this.faultState,
      release: () => {
        if (!held) return;
        held = false;
        this.active--;
      },
    };
  }

  /** Rolls the dice for `error_rate`. */
  injectError(stream: SimStream): boolean {
    const rate = stream.faults.error_rate;
    return rate > 0 && (rate >= 1 || Math.random() < rate);
  }

  /** Synthesizes `text` (for the Gradio job model, which returns audio as a whole). */
  async render(text: string, voice: string, speed: number, signal: AbortSignal): Promise<Pcm> {
    const cloned = this.clonedVoices.get(voice);
    if (cloned) return cloned.source.synthesize(text, voice, speed, signal);
    return this.audio.synthesize(text, voice, speed, signal);
  }

  /**
   * Paces audio to `sink` the way a GPU would: first chunk after first_audio_ms, then one
   * chunk every chunk_ms × rtf, all scaled by the load; applies hang, stall and die faults.
   */
  async produce(stream: SimStream, pcm: Pcm | Promise<Pcm>, signal: AbortSignal, sink: StreamSink | null): Promise<StreamOutcome> {
    const started = performance.now();
    const { faults } = stream;
    const model = this.latency;
    // A hung or aborted stream never awaits the audio; keep its rejection from going unhandled.
    if (pcm instanceof Promise) pcm.catch(() => undefined);
    try {
      if (faults.hang) {
        await new Promise<void>((resolve) => {
          if (signal.aborted) resolve();
          else signal.addEventListener('abort', () => resolve(), { once: true });
        });
        return 'aborted';
      }
      const audio = await pcm;
      const firstWait = scaledWait(model, model.first_audio_ms, this.active) - (performance.now() - started);
      if (firstWait > 0) await sleep(firstWait, undefined, { signal });
      if (!sink) {
        // Whole-result mode (Gradio): the job takes as long as producing every chunk.
        const audioMs = (audio.samples.length * 1000) / audio.sampleRate;
        const rest = scaledWait(model, Math.max(0, audioMs - model.chunk_ms) * model.rtf, this.active);
        if (rest > 0) await sleep(rest, undefined, { signal });
        return signal.aborted ? 'aborted' : 'done';
      }
      const step = Math.max(1, Math.round((audio.sampleRate * model.chunk_ms) / 1000));
      const samples = audio.samples;
      for (let offset = 0, i = 0; offset < samples.length; offset += step, i++) {
        if (i > 0) {
          const wait = scaledWait(model, model.chunk_ms * model.rtf, this.active);
          if (wait > 0) await sleep(wait, undefined, { signal });
        }
        if (signal.aborted) return 'aborted';
        const written = sink.write(samples.subarray(offset, offset + step));
        if (written) await written;
        if (i === 0 && faults.die_mid_stream) {
          sink.die();
          return 'died';
        }
        if (i === 0 && faults.stall_ms > 0) await sleep(faults.stall_ms, undefined, { signal });
      }
      return signal.aborted ? 'aborted' : 'done';
    } catch (err) {
      if (signal.aborted) return 'aborted';
      throw err;
    }
  }

  private listen(): Promise<void> {
    if (this.server) return Promise.resolve();
    const server = createServer((req, res) => this.handler(req, res, this));
    server.keepAliveTimeout = 30_000;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        this.port = (server.address() as AddressInfo).port;
        this.server = server;
        resolve();
      });
    });
  }

  private shutdown(): Promise<void> {
    const server = this.server;
    if (!server) return Promise.resolve();
    this.server = null;
    this.clonedVoices.clear();
    return new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}

/** An AbortSignal that fires when the client goes away before the response finished. */
export function clientGone(req: IncomingMessage, res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  const onClose = (): void => {
    if (!res.writableFinished) controller.abort();
  };
  res.once('close', onClose);
  req.once('aborted', onClose);
  return controller.signal;
}

/** Reads a request body (bounded), as text. */
export async function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new Error('request body too large');
    parts.push(chunk);
  }
  return Buffer.concat(parts).toString('utf8');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Little-endian s16 bytes viewing `samples` (no copy; the platform is little-endian). */
export function s16Bytes(samples: Int16Array): Buffer {
  return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength);
}

/** res.write that resolves on drain when the socket buffer is full. */
export function writeWithDrain(res: ServerResponse, bytes: Uint8Array): void | Promise<void> {
  if (res.write(bytes)) return undefined;
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}
