/**
 * The embedded espeak-ng engine: WASM in worker threads so synthesis never blocks the event
 * loop. The WASM module is compiled once per process and shared by every worker; each worker
 * keeps one instance warm (see espeak-worker.js for how main() is re-run safely).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Pcm } from '../audio/format.ts';
import { raceAbort } from './backend.ts';

const require = createRequire(import.meta.url);

/** espeak-ng's default speaking rate in words per minute; `speed` 1.0 maps to it. */
export const ESPEAK_BASE_WPM = 175;
/** espeak-ng's output rate. */
export const ESPEAK_SAMPLE_RATE = 22050;

/** Voice names passed to espeak's -v: letters, digits, `-`, `+`, `_` only. */
const VOICE_PATTERN = /^[A-Za-z0-9_+-]{1,40}$/;

export class EspeakError extends Error {
  override readonly name = 'EspeakError';
  constructor(
    readonly code: 'ESPEAK_BAD_VOICE' | 'ESPEAK_FAILED' | 'ESPEAK_CLOSED' | 'ESPEAK_ABORTED',
    message: string,
  ) {
    super(message);
  }
}

// @types/node 20 declares the WebAssembly types but not the global value.
type WasmModule = object;
const wasmApi = (globalThis as unknown as { WebAssembly: { compile(bytes: Uint8Array): Promise<WasmModule> } }).WebAssembly;

let compiled: Promise<WasmModule> | undefined;

function compiledModule(): Promise<WasmModule> {
  compiled ??= wasmApi.compile(readFileSync(require.resolve('espeak-ng').replace(/espeak-ng\.js$/, 'espeak-ng.wasm')));
  return compiled;
}

interface Pending {
  resolve(reply: WorkerReply): void;
  reject(err: Error): void;
}

interface WorkerReply {
  id?: number;
  type?: string;
  ok?: boolean;
  samples?: Int16Array;
  sampleRate?: number;
  error?: string;
  /** Output of `--voices` (a `voices` request). */
  lines?: string[];
}

/** One worker thread with one warm espeak-ng instance; requests run one at a time, in order. */
export class EspeakWorker {
  private worker: Worker | undefined;
  private readonly ready: Promise<void>;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor() {
    this.ready = this.start();
    // A failed start is reported by synthesize/check; don't let it surface as unhandled.
    this.ready.catch(() => {});
  }

  /** Requests queued or running in this worker. */
  get queued(): number {
    return this.pending.size;
  }

  private async start(): Promise<void> {
    const module = await compiledModule();
    const worker = new Worker(new URL('./espeak-worker.js', import.meta.url), { workerData: { module } });
    this.worker = worker;
    worker.unref();
    await new Promise<void>((resolve, reject) => {
      const onMessage = (msg: WorkerReply) => {
        if (msg.type === 'ready') {
          worker.off('error', reject);
          resolve();
        }
      };
      worker.once('error', reject);
      worker.on('message', onMessage);
    });
    worker.on('message', (msg: WorkerReply) => this.onReply(msg));
    worker.on('error', (err) => this.failAll(new EspeakError('ESPEAK_FAILED', `espeak worker crashed: ${err.message}`)));
    worker.on('exit', () => this.failAll(new EspeakError('ESPEAK_CLOSED', 'espeak worker exited')));
  }

  private onReply(msg: WorkerReply): void {
    if (msg.id === undefined) return;
    const pending = this.pending.get(msg.id);
    if (!pending) return;
    this.pending.delete(msg.id);
    if (msg.ok) pending.resolve(msg);
    else pending.reject(new EspeakError('ESPEAK_FAILED', msg.error ?? 'espeak failed'));
  }

  private failAll(err: Error): void {
    for (const pending of this.pending.values()) pending.reject(err);
    this.pending.clear();
  }

  private async request(message: Record<string, unknown>): Promise<WorkerReply> {
    if (this.closed) throw new EspeakError('ESPEAK_CLOSED', 'espeak worker is closed');
    await this.ready;
    const id = this.nextId++;
    return new Promise<WorkerReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker!.postMessage({ ...message, id });
    });
  }

  /**
   * Synthesizes one segment. Aborting (also before the call) rejects with ESPEAK_ABORTED at
   * once; the WASM call itself cannot be interrupted, its result is dropped.
   */
  async synthesize(text: string, voice: string, speed = 1, signal?: AbortSignal): Promise<Pcm> {
    if (!VOICE_PATTERN.test(voice)) throw new EspeakError('ESPEAK_BAD_VOICE', `invalid espeak voice name: ${JSON.stringify(voice)}`);
    if (signal?.aborted) throw espeakAborted();
    const wpm = Math.round(Math.min(4, Math.max(0.25, speed)) * ESPEAK_BASE_WPM);
    const result = this.request({ type: 'synth', text, voice, wpm }).then((msg): Pcm => ({ samples: msg.samples ?? new Int16Array(0), sampleRate: msg.sampleRate ?? ESPEAK_SAMPLE_RATE }));
    return signal ? raceAbort(result, signal, espeakAborted) : result;
  }

  /** The voice table espeak-ng prints for `--voices` (parse with parseEspeakVoices). */
  async voiceTable(): Promise<string[]> {
    return (await this.request({ type: 'voices' })).lines ?? [];
  }

  /** Resolves when the worker answers a ping (health check). */
  async ping(): Promise<void> {
    await this.request({ type: 'ping' });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new EspeakError('ESPEAK_CLOSED', 'espeak worker closed'));
    await this.ready.catch(() => {});
    await this.worker?.terminate();
  }
}

export interface EspeakEngineOptions {
  /** Worker threads, each one warm espeak-ng instance. Default 2 (one per core here). */
  workers?: number;
}

/** A small pool of espeak workers; each request goes to the least busy one. */
export class EspeakEngine {
  private readonly workers: EspeakWorker[];

  constructor(options: EspeakEngineOptions = {}) {
    const count = Math.max(1, options.workers ?? 2);
    this.workers = Array.from({ length: count }, () => new EspeakWorker());
  }

  synthesize(text: string, voice: string, signal?: AbortSignal, speed = 1): Promise<Pcm> {
    let best = this.workers[0]!;
    for (const worker of this.workers) if (worker.queued < best.queued) best = worker;
    return best.synthesize(text, voice, speed, signal);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

/**
 * The names `-v` accepts, lowercased, from espeak-ng's `--voices` table (columns: Pty,
 * Language, Age/Gender, VoiceName, File, Other Languages): each language code, voice name,
 * file path and file name, and every "other language" it answers to (`en` for en-us).
 */
export function parseEspeakVoices(lines: readonly string[]): { names: Set<string>; languages: string[] } {
  const names = new Set<string>();
  const languages: string[] = [];
  for (const line of lines) {
    const cols = line.trim().split(/\s+/);
    if (cols.length < 5 || cols[0] === 'Pty' || !/^\d+$/.test(cols[0]!)) continue;
    const [, language, , name, file] = cols as [string, string, string, string, string];
    languages.push(language);
    for (const n of [language, name, file, file.split('/').pop()!]) names.add(n.toLowerCase());
    for (const m of line.matchAll(/\(([^\s()]+) \d+\)/g)) names.add(m[1]!.toLowerCase());
  }
  return { names, languages };
}

function espeakAborted(): EspeakError {
  return new EspeakError('ESPEAK_ABORTED', 'synthesis aborted');
}
